"""End to end: the access log of real ``firefly`` and ``gunicorn`` servers, as in docs/logging.rst.

The servers write to stderr (which the fixtures capture in ``server.log()``)
or to a file; the rotation tests run three workers writing one small,
quickly rotated file while many requests arrive at once, then read every
rotated file back.
"""

from __future__ import annotations

import collections
import concurrent.futures
import gzip
import json
import os
import re
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import EXAMPLES, on_each_server
from tests.test_docs import CODE_DIRECTIVE, DOCS, directive_blocks, read

TIMEOUT = 10
TEXT_LINE = re.compile(
    r"(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00) (?P<client>\S+)"
    r' "(?P<method>\S+) (?P<path>\S+)" (?P<status>\d{3}) (?P<bytes>\d+)B'
    r" (?P<duration>\d+\.\d{3})ms (?P<function>\S+) rid=(?P<request_id>\S+)"
    r"(?: exc=(?P<exception>\S+))?"
)
ROTATED = re.compile(r"access\.log\.(?P<number>\d+)\.gz")
PROBE = "/-/none"  # the fixtures' request to see whether the server is up


def wait_for(read_lines: Callable[[], list[Any]], count: int) -> list[Any]:
    """``read_lines()`` once it has ``count`` lines, or after TIMEOUT seconds.

    A server writes the line of a request just after sending its response.
    """
    deadline = time.monotonic() + TIMEOUT
    while len(lines := read_lines()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return lines


def text_lines(server) -> list[re.Match[str]]:
    matches = (TEXT_LINE.fullmatch(line) for line in server.log().splitlines())
    return [m for m in matches if m and m["path"] != PROBE]


def json_lines(text: str) -> list[dict]:
    lines = (json.loads(line) for line in text.splitlines() if line.startswith("{"))
    return [line for line in lines if line["path"] != PROBE]


def docs_command(name: str) -> list[str]:
    """The arguments of the console example ``name`` of docs/logging.rst, program name left out."""
    page = read(DOCS / "logging.rst")
    (block,) = [
        body for _, opts, body in directive_blocks(page, CODE_DIRECTIVE) if opts.get("name") == name
    ]
    return shlex.split(block.removeprefix("$ "))[1:]


def examples_environment() -> dict[str, str]:
    """Serve the docs' ``funcs`` from a scratch directory, where the log file goes."""
    return {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(EXAMPLES), os.environ.get("PYTHONPATH")]))
    }


# stderr


@on_each_server
def test_a_text_line_per_request_on_stderr_by_default(firefly_server):
    with firefly_server("funcs.square", "funcs.fail") as server:
        square = requests.post(server.url + "square", json={"n": 4}, timeout=TIMEOUT)
        requests.post(
            server.url + "fail", json={}, headers={"X-Request-ID": "fail-1"}, timeout=TIMEOUT
        )
        requests.get(
            server.url + "no%20such/path", headers={"X-Request-ID": "404"}, timeout=TIMEOUT
        )
        lines = wait_for(lambda: text_lines(server), 3)
    by_id = {line["request_id"]: line.groupdict() for line in lines}
    assert set(by_id) == {square.headers["X-Request-ID"], "fail-1", "404"}
    assert by_id[square.headers["X-Request-ID"]] == {
        **by_id[square.headers["X-Request-ID"]],
        "client": "127.0.0.1",
        "method": "POST",
        "path": "/square",
        "status": "200",
        "bytes": "2",
        "function": "square",
        "exception": None,
    }
    assert (by_id["fail-1"]["status"], by_id["fail-1"]["exception"]) == ("500", "ValueError")
    assert by_id["404"]["path"] == "/no%20such/path"
    assert (by_id["404"]["status"], by_id["404"]["function"]) == ("404", "-")


@on_each_server
def test_json_lines_with_the_option(firefly_server):
    with firefly_server("funcs.square", "--access-log-format", "json") as server:
        response = requests.post(server.url + "square", json={"n": 3}, timeout=TIMEOUT)
        (line,) = wait_for(lambda: json_lines(server.log()), 1)
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert {k: line[k] for k in ("method", "path", "function", "status", "bytes", "client")} == {
        "method": "POST",
        "path": "/square",
        "function": "square",
        "status": 200,
        "bytes": 1,
        "client": "127.0.0.1",
    }
    assert line["duration_ms"] > 0 and line["exception"] is None


@on_each_server
def test_off_writes_no_line(firefly_server):
    with firefly_server("funcs.square", env={"FIREFLY_ACCESS_LOG": "off"}) as server:
        quiet = requests.post(
            server.url + "square", json={"n": 3}, headers={"X-Request-ID": "quiet"}, timeout=10
        )
        assert quiet.status_code == 200
    assert "rid=" not in server.log() and "quiet" not in server.log()


# Files, rotated by three workers


def read_rotated(directory: Path) -> tuple[list[str], list[str]]:
    """Every line of access.log and its rotated files, and the names of the files there."""
    names = sorted(p.name for p in directory.iterdir() if p.name.startswith("access.log"))
    rotated = sorted(
        (m for name in names if (m := ROTATED.fullmatch(name))), key=lambda m: -int(m["number"])
    )
    data = b"".join(gzip.decompress((directory / m[0]).read_bytes()) for m in rotated)
    data += (directory / "access.log").read_bytes()
    return data.decode("ascii").splitlines(keepends=True), names


def request_many(url: str, count: int) -> list[str]:
    """``count`` calls of square from 8 threads at once; their request ids."""
    ids = [f"req-{n:05d}" for n in range(count)]

    def call(request_id: str) -> int:
        headers = {"X-Request-ID": request_id}
        return requests.post(
            url + "square", json={"n": 2}, headers=headers, timeout=TIMEOUT
        ).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert set(pool.map(call, ids)) == {200}
    return ids


ROTATION = {"max_bytes": "3000", "backups": "1000"}
REQUESTS = 600


def assert_each_request_once(lines: list[str], ids: list[str], names: list[str], parse) -> None:
    assert all(line.endswith("\n") for line in lines)
    logged = collections.Counter(rid for line in lines if (rid := parse(line)) is not None)
    assert logged == collections.Counter(ids)
    assert "access.log.lock" in names and not [n for n in names if n.endswith(".tmp")]
    assert len([n for n in names if ROTATED.fullmatch(n)]) >= 5


@on_each_server
def test_the_firefly_file_example_rotates_without_losing_a_line(firefly_server, tmp_path):
    args = docs_command("access-log-file")
    assert args[:4] == ["funcs.square", "--workers", "3", "--access-log"]
    small = ["--access-log-max-bytes", ROTATION["max_bytes"]]
    small += ["--access-log-backups", ROTATION["backups"]]
    with firefly_server(*args, *small, cwd=tmp_path, env=examples_environment()) as server:
        ids = request_many(server.url, REQUESTS)
    lines, names = read_rotated(tmp_path)

    def request_id(line: str) -> str | None:
        match = TEXT_LINE.fullmatch(line.rstrip("\n"))
        assert match, line
        if match["path"] == PROBE:
            return None
        assert (match["path"], match["status"]) == ("/square", "200"), line
        return match["request_id"]

    assert_each_request_once(lines, ids, names, request_id)


@pytest.mark.parametrize("preload", [[], ["--preload"]], ids=["no-preload", "preload"])
def test_the_gunicorn_example_rotates_without_losing_a_line(gunicorn_server, tmp_path, preload):
    args = docs_command("access-log-gunicorn")
    assert "FIREFLY_ACCESS_LOG=access.log" in args and args[:2] == ["--workers", "3"]
    small = ["-e", f"FIREFLY_ACCESS_LOG_MAX_BYTES={ROTATION['max_bytes']}"]
    small += ["-e", f"FIREFLY_ACCESS_LOG_BACKUPS={ROTATION['backups']}"]
    with gunicorn_server(
        *preload, *args, *small, cwd=tmp_path, env=examples_environment()
    ) as server:
        ids = request_many(server.url, REQUESTS)
    lines, names = read_rotated(tmp_path)

    def request_id(line: str) -> str | None:
        record = json.loads(line)
        if record["path"] == PROBE:
            return None
        assert (record["path"], record["function"], record["status"]) == ("/square", "square", 200)
        return record["request_id"]

    assert_each_request_once(lines, ids, names, request_id)
