"""The access log's sinks: stderr, plain files, and rotation shared by processes and threads."""

from __future__ import annotations

import collections
import gzip
import multiprocessing
import os
import re
import threading
from pathlib import Path

import pytest

from firefly.errors import ConfigError
from firefly.telemetry.logfile import RotatingFileSink, open_sink

ROTATED = re.compile(r"\.(?P<number>\d+)(?P<gz>\.gz)?")
LINE = re.compile(rb"writer (\d+) thread (\d+) line (\d+) x+ end\n")
MAX_BYTES = 16_384
PROCESSES, THREADS, LINES = 4, 3, 600  # about 540 kB


def test_dash_is_stderr(capfd):
    sink = open_sink("-", max_bytes=0, backups=0)
    sink.write(b"one line\n")
    sink.close()
    assert capfd.readouterr().err == "one line\n"
    assert os.fstat(2)  # closing the sink left stderr open


@pytest.mark.parametrize("max_bytes", [0, 1000])
def test_a_file_that_cannot_be_opened_is_a_config_error(tmp_path, max_bytes):
    missing = tmp_path / "no" / "such" / "dir" / "access.log"
    with pytest.raises(ConfigError, match=re.escape(repr(str(missing)))):
        open_sink(str(missing), max_bytes=max_bytes, backups=5)


def read_all(path: Path) -> list[bytes]:
    """Every line of ``path`` and of its rotated files, oldest first."""
    rotated = {}
    for file in path.parent.iterdir():
        match = ROTATED.fullmatch(file.name.removeprefix(path.name))
        if match and file.name.startswith(path.name):
            rotated[-int(match["number"])] = file
    lines = []
    for file in [*(rotated[key] for key in sorted(rotated)), path]:
        data = gzip.decompress(file.read_bytes()) if file.suffix == ".gz" else file.read_bytes()
        lines.extend(data.splitlines(keepends=True))
    return lines


def rotated_names(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


@pytest.mark.parametrize("count", [20, 1001])  # many: rotations outrun the compressor
def test_rotation_keeps_the_newest_backups_compressed(tmp_path, count):
    path = tmp_path / "access.log"
    sink = open_sink(str(path), max_bytes=100, backups=3)
    lines = [f"line {n:04d} {'x' * 39}\n".encode() for n in range(count)]  # 50 bytes each
    for line in lines:
        sink.write(line)
    sink.close()
    assert rotated_names(path) == [
        "access.log.1.gz",
        "access.log.2.gz",
        "access.log.3.gz",
        "access.log.lock",
    ]
    for number in (1, 2, 3):  # rotated once over 100 bytes: after 3 lines, or more
        assert len(gzip.decompress((tmp_path / f"access.log.{number}.gz").read_bytes())) >= 150
    kept = read_all(path)  # the newest lines, in order, none missing
    assert len(kept) >= 9 and kept == lines[-len(kept) :]


def test_no_backups_means_rotation_empties_the_file(tmp_path):
    path = tmp_path / "access.log"
    sink = open_sink(str(path), max_bytes=100, backups=0)
    for n in range(10):
        sink.write(f"line {n} {'x' * 40}\n".encode())
    sink.close()
    assert rotated_names(path) == ["access.log.lock"]
    assert path.read_bytes() == f"line 9 {'x' * 40}\n".encode()


def test_zero_max_bytes_never_rotates(tmp_path):
    path = tmp_path / "access.log"
    sink = open_sink(str(path), max_bytes=0, backups=5)
    for _ in range(100):
        sink.write(b"x" * 99 + b"\n")
    sink.close()
    assert rotated_names(path) == [] and path.stat().st_size == 10_000


def test_a_rotated_file_left_uncompressed_is_compressed_next_time(tmp_path):
    path = tmp_path / "access.log"
    (tmp_path / "access.log.1").write_bytes(b"left by a crash\n")
    sink = open_sink(str(path), max_bytes=10, backups=5)
    sink.write(b"first line over ten bytes\n")
    sink.close()
    assert rotated_names(path) == ["access.log.1.gz", "access.log.2.gz", "access.log.lock"]
    assert path.read_bytes() == b""
    assert read_all(path) == [b"left by a crash\n", b"first line over ten bytes\n"]


def test_a_new_sink_continues_the_existing_file(tmp_path):
    path = tmp_path / "access.log"
    for n in range(2):
        sink = open_sink(str(path), max_bytes=1000, backups=5)
        sink.write(f"run {n}\n".encode())
        sink.close()
    assert path.read_bytes() == b"run 0\nrun 1\n"


def write_lines(sink: RotatingFileSink, writer: int) -> None:
    """``THREADS`` threads writing ``LINES`` numbered lines each, of varied length."""

    def run(thread: int) -> None:
        for number in range(LINES):
            padding = b"x" * (1 + (number * 7 + writer) % 90)
            sink.write(b"writer %d thread %d line %d %s end\n" % (writer, thread, number, padding))
        sink.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.parametrize("opened", ["before-fork", "in-each-process"])
def test_processes_and_threads_rotating_one_file_lose_and_mix_no_line(tmp_path, opened):
    path = tmp_path / "access.log"
    inherited = open_sink(str(path), max_bytes=MAX_BYTES, backups=10_000)
    assert isinstance(inherited, RotatingFileSink)
    context = multiprocessing.get_context("fork")
    start = context.Barrier(PROCESSES)

    def worker(writer: int) -> None:
        sink = inherited if opened == "before-fork" else open_sink(str(path), MAX_BYTES, 10_000)
        start.wait()
        write_lines(sink, writer)  # type: ignore[arg-type]

    processes = [context.Process(target=worker, args=(n,)) for n in range(PROCESSES)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0

    lines = read_all(path)
    assert all(LINE.fullmatch(line) for line in lines), [x for x in lines if not LINE.fullmatch(x)]
    counts = collections.Counter(lines)
    assert len(counts) == PROCESSES * THREADS * LINES and set(counts.values()) == {1}
    names = rotated_names(path)
    assert all(name.endswith(".gz") for name in names if name != "access.log.lock")
    assert len(names) > 4  # a rotation lets the file grow while it renames the others
    for writer in range(PROCESSES):  # each thread's lines in the order it wrote them
        for thread in range(THREADS):
            mine = [
                int(m[3])
                for x in lines
                if (m := LINE.fullmatch(x)) and m.group(1, 2) == (b"%d" % writer, b"%d" % thread)
            ]
            assert mine == list(range(LINES))
