"""What the benchmark scripts share: numbers, progress lines, tables, ports, server stops."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return number


def progress(message: str) -> None:
    """Report progress on stderr, leaving stdout to the results."""
    print(message, file=sys.stderr, flush=True)


def simple_table(header: Sequence[str], rows: Sequence[Sequence[str]], names: int = 1) -> str:
    """A reStructuredText simple table, pasted as is into docs/performance.rst.

    The first ``names`` columns are text, aligned left; the others are numbers,
    aligned right.
    """
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    rule = "  ".join("=" * width for width in widths)

    def line(row: Sequence[str]) -> str:
        cells = [
            text.ljust(width) if column < names else text.rjust(width)
            for column, (text, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return "\n".join([rule, line(header), rule, *(line(row) for row in rows), rule])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Stop a server started in a process group of its own: gently, then by force."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
