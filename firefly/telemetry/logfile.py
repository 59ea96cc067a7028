"""Where access-log lines go: stderr, or a file rotated safely across processes.

A sink writes whole lines, one or a batch of them, with a single ``os.write``
on a descriptor opened with ``O_APPEND``, and a write is kept within
``PIPE_BUF`` (4096 bytes), so the lines of several threads and gunicorn
workers never interleave.

:class:`RotatingFileSink` rotates the file when it grows over ``max_bytes``,
keeping ``backups`` gzipped files, without losing a line even when several
worker processes write it:

- Each thread of each process has its own descriptors of the log file and of
  ``<path>.lock``, which holds a generation counter (memory-mapped, so that
  reading it costs no system call). A writer holds a *shared* ``flock`` on
  the lock file while it checks the generation, reopens ``<path>`` if it
  changed, and writes its line; writers never wait for each other.
- The writer that finds the file over the size rotates it: it locks the log
  file itself (without waiting: if another writer is rotating it, it goes
  on), renames ``<path>.N`` to ``<path>.N+1`` and ``<path>`` to
  ``<path>.1``, creates the new ``<path>`` and bumps the generation. Writers
  go on meanwhile; one that checked the generation just before may still
  write its line to the renamed file.
- A background thread then compresses the rotated file. It first takes the
  lock file *exclusively*, for an instant: that waits for those last lines,
  and every line after them goes to the new file, so the rotated file is
  complete. It compresses into a temporary file, locked so that no two
  processes compress the same file, and renames it to ``<path>.N.gz`` while
  it holds the log file's lock, so that no rotation renumbers the files
  meanwhile. A file left uncompressed by a worker killed half-way is
  compressed at the next rotation.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import logging
import mmap
import os
import re
import threading
from collections.abc import Iterator
from typing import Protocol

from ..errors import ConfigError

__all__ = ["FdSink", "RotatingFileSink", "Sink", "open_sink"]

logger = logging.getLogger(__name__)

STDERR = "-"

# What follows "<path>." in the name of a rotated file.
_ROTATED = re.compile(r"(?P<number>[1-9][0-9]*)(?P<gz>\.gz)?").fullmatch

LOG_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
LOG_MODE = 0o644
# The lock file holds the rotation generation: a little-endian 64-bit counter.
GENERATION_SIZE = 8
COMPRESS_CHUNK = 1024 * 1024
#: The most bytes one write may hold for the kernel to write them at once, even to a pipe.
PIPE_BUF = 4096


class Sink(Protocol):
    """Where the lines go; ``write`` gets whole lines (PIPE_BUF bytes at most), written at once."""

    def write(self, line: bytes) -> None:
        """Append ``line``: one or more whole lines."""


def write_all(fd: int, data: bytes) -> None:
    """Write ``data`` to ``fd``; lines within PIPE_BUF go in one ``os.write``."""
    written = os.write(fd, data)
    while written < len(data):  # only after a partial write (a full disk, a signal)
        written += os.write(fd, data[written:])


class FdSink:
    """Appends lines to a descriptor opened with ``O_APPEND``, or to a stream such as stderr.

    :param closefd: whether :meth:`close` closes ``fd`` (not for stderr).
    """

    def __init__(self, fd: int, closefd: bool = True):
        self.fd = fd
        self.closefd = closefd

    def write(self, line: bytes) -> None:
        """Append ``line`` with one ``os.write``."""
        write_all(self.fd, line)

    def close(self) -> None:
        """Close the descriptor, if it is ours to close."""
        if self.closefd:
            os.close(self.fd)


class _Writer:
    """One thread's descriptors of the lock file and of the log file (-1 until opened)."""

    __slots__ = ("generation", "lock_fd", "log_fd", "pid")

    def __init__(self, lock_fd: int):
        self.pid = os.getpid()
        self.lock_fd = lock_fd
        self.log_fd = -1
        self.generation = b""  # matches no generation: the first write opens the log

    def close(self) -> None:
        for fd in (self.log_fd, self.lock_fd):
            if fd >= 0:
                os.close(fd)
        self.log_fd = self.lock_fd = -1

    def __del__(self) -> None:
        self.close()


class RotatingFileSink:
    """Appends lines to ``path``, rotated over ``max_bytes``, keeping ``backups`` gzipped files.

    Rotated files are ``<path>.1.gz`` (the newest) to ``<path>.<backups>.gz``.
    Several processes and threads may write the same file: see the module
    docstring for how rotation stays correct.
    """

    def __init__(self, path: str, max_bytes: int, backups: int):
        if max_bytes <= 0 or backups < 0:
            raise ValueError(f"expected max_bytes > 0 and backups >= 0, got {max_bytes}, {backups}")
        self.path = os.path.abspath(path)
        self.lock_path = self.path + ".lock"
        self.max_bytes = max_bytes
        self.backups = backups
        os.close(os.open(self.path, LOG_FLAGS, LOG_MODE))
        self._generation = self._map_generation()
        self._local = threading.local()
        self._pending: list[tuple[int, int]] = []
        self._pending_lock = threading.Lock()
        self._compressor: threading.Thread | None = None

    def _map_generation(self) -> mmap.mmap:
        """Map the generation counter of the lock file, shared by every process writing the log."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, LOG_MODE)
        try:
            if os.fstat(fd).st_size < GENERATION_SIZE:
                os.ftruncate(fd, GENERATION_SIZE)  # zeros; never shrinks a counter already there
            return mmap.mmap(fd, GENERATION_SIZE)
        finally:
            os.close(fd)

    def write(self, line: bytes) -> None:
        """Append ``line`` with one ``os.write``, then rotate the file if it is over the size."""
        writer = self._writer()
        fcntl.flock(writer.lock_fd, fcntl.LOCK_SH)
        try:
            if self._generation[:GENERATION_SIZE] != writer.generation:
                self._reopen(writer)
            write_all(writer.log_fd, line)
            size = os.lseek(writer.log_fd, 0, os.SEEK_CUR)  # O_APPEND: the end of our line
        finally:
            fcntl.flock(writer.lock_fd, fcntl.LOCK_UN)
        if size > self.max_bytes:
            self._rotate(writer)

    def close(self) -> None:
        """Close this thread's descriptors and wait for the compression of rotated files."""
        writer = getattr(self._local, "writer", None)
        if writer is not None:
            writer.close()
            del self._local.writer
        compressor = self._compressor
        if compressor is not None:
            compressor.join()

    def _writer(self) -> _Writer:
        """This thread's descriptors, opened on first use and again in a forked child."""
        writer: _Writer | None = getattr(self._local, "writer", None)
        if writer is None or writer.pid != os.getpid():
            lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, LOG_MODE)
            writer = self._local.writer = _Writer(lock_fd)
        return writer

    def _reopen(self, writer: _Writer) -> None:
        """Open the current ``path``: first write of this thread, or rotated since its last one."""
        # The generation before the file: a rotation in between shows at the next write.
        generation = self._generation[:GENERATION_SIZE]
        old = writer.log_fd
        writer.log_fd = os.open(self.path, LOG_FLAGS, LOG_MODE)
        writer.generation = generation
        if old >= 0:
            os.close(old)

    def _rotate(self, writer: _Writer) -> None:
        """Rotate the file ``writer`` wrote to, unless another writer is rotating or has rotated it.

        Rotating locks the current file, so rotations never overlap; writers
        keep writing meanwhile, and the compressor waits for those that had
        checked the generation before it changed.
        """
        try:
            fcntl.flock(writer.log_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        try:
            if self._generation[:GENERATION_SIZE] != writer.generation:
                return
            if os.fstat(writer.log_fd).st_size <= self.max_bytes:
                return
            claimed = self._claim_uncompressed()
            if self.backups:
                claimed += filter(None, [self._claim(self.path)])
            self._shift()
            os.close(os.open(self.path, LOG_FLAGS, LOG_MODE))  # the new file, before announcing it
            generation = int.from_bytes(self._generation[:GENERATION_SIZE], "little") + 1
            self._generation[:GENERATION_SIZE] = generation.to_bytes(GENERATION_SIZE, "little")
        finally:
            fcntl.flock(writer.log_fd, fcntl.LOCK_UN)
        if claimed:
            self._compress_later(claimed)

    def _rotated(self, number: int, gz: bool = False) -> str:
        return f"{self.path}.{number}{'.gz' if gz else ''}"

    def _rotated_files(self) -> list[tuple[int, bool]]:
        """The rotated files there are, as ``(number, gzipped)``, newest first."""
        directory, prefix = os.path.split(self.path + ".")
        found = []
        for name in os.listdir(directory):
            match = _ROTATED(name[len(prefix) :]) if name.startswith(prefix) else None
            if match:
                found.append((int(match["number"]), bool(match["gz"])))
        return sorted(found)

    def _temporary(self, inode: int) -> str:
        return f"{self.path}.{inode}.gz.tmp"

    def _shift(self) -> None:
        """Rename ``path.N`` to ``path.N+1`` and ``path`` to ``path.1``; drop the oldest."""
        if self.backups == 0:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            return
        for number, gz in reversed(self._rotated_files()):
            if number >= self.backups:
                os.unlink(self._rotated(number, gz))
            else:
                os.rename(self._rotated(number, gz), self._rotated(number + 1, gz))
        with contextlib.suppress(FileNotFoundError):  # deleted by hand: writers just reopen
            os.rename(self.path, self._rotated(1))

    def _claim_uncompressed(self) -> list[tuple[int, int]]:
        """Rotated files left uncompressed by a worker that died, or being compressed (skipped)."""
        kept = [n for n, gz in self._rotated_files() if not gz and n < self.backups]
        return [claim for claim in map(self._claim, map(self._rotated, kept)) if claim]

    def _claim(self, name: str) -> tuple[int, int] | None:
        """``name`` and its temporary ``.gz``, locked; None if missing or another compresses it."""
        try:
            source = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        temporary_name = self._temporary(os.fstat(source).st_ino)
        temporary = os.open(temporary_name, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, LOG_MODE)
        try:
            fcntl.flock(temporary, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(source)
            os.close(temporary)
            return None
        return source, temporary

    def _compress_later(self, claimed: list[tuple[int, int]]) -> None:
        """Hand rotated files to this process's compressor thread, started if need be."""
        with self._pending_lock:
            self._pending += claimed
            if self._compressor is None or not self._compressor.is_alive():
                # Not a daemon: an exiting worker finishes its compression first.
                compressor = threading.Thread(
                    target=self._compress_pending, name="firefly-accesslog-gzip"
                )
                compressor.start()  # then published, so that close() never joins it unstarted
                self._compressor = compressor

    def _compress_pending(self) -> None:
        while True:
            with self._pending_lock:
                claimed, self._pending = self._pending, []
                if not claimed:
                    self._compressor = None
                    return
            self._wait_for_writers()
            for source, temporary in claimed:
                try:
                    self._compress(source, temporary)
                except OSError as err:
                    logger.error("firefly: cannot compress a rotated access log: %s", err)
                finally:
                    os.close(source)
                    os.close(temporary)

    def _wait_for_writers(self) -> None:
        """Return once no line is being written: those that follow go to the new file."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        finally:
            os.close(fd)

    def _compress(self, source: int, temporary: int) -> None:
        """Gzip ``source`` into ``temporary``, then swap it in for the rotated file."""
        inode = os.fstat(source).st_ino
        os.ftruncate(temporary, 0)  # a previous attempt may have died half-way
        with open(temporary, "wb", closefd=False) as raw:
            with gzip.GzipFile(filename="", fileobj=raw, mode="wb") as compressed:
                while chunk := os.read(source, COMPRESS_CHUNK):
                    compressed.write(chunk)
        os.fsync(temporary)
        with self._no_rotation():
            name = self._current_name(inode)  # ``source`` is open: its inode is not reused
            if name is None:  # shifted past the last backup meanwhile
                os.unlink(self._temporary(inode))
                return
            os.rename(self._temporary(inode), name + ".gz")
            os.unlink(name)

    def _current_name(self, inode: int) -> str | None:
        """The name the rotated file ``inode`` has now: later rotations may have renumbered it."""
        for number, gz in self._rotated_files():
            name = self._rotated(number, gz)
            if not gz and os.stat(name).st_ino == inode:
                return name
        return None

    @contextlib.contextmanager
    def _no_rotation(self) -> Iterator[None]:
        """Lock the current file, as a rotation does, so that none runs meanwhile."""
        while True:
            fd = os.open(self.path, LOG_FLAGS, LOG_MODE)
            fcntl.flock(fd, fcntl.LOCK_EX)
            with contextlib.suppress(FileNotFoundError):
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    break
            os.close(fd)  # rotated while we waited: lock the new one
        try:
            yield
        finally:
            os.close(fd)


def open_sink(destination: str, max_bytes: int, backups: int) -> FdSink | RotatingFileSink:
    """The sink for ``destination``: ``-`` for stderr, else a file path.

    :param max_bytes: rotate the file when it grows over this size; 0 never rotates.
    :param backups: rotated files kept, gzipped.
    :raises ConfigError: the file cannot be opened for appending.
    """
    if destination == STDERR:
        return FdSink(2, closefd=False)
    try:
        if max_bytes:
            return RotatingFileSink(destination, max_bytes, backups)
        return FdSink(os.open(destination, LOG_FLAGS, LOG_MODE))
    except OSError as err:
        raise ConfigError(f"cannot open the access log {destination!r}: {err.strerror}") from None
