"""Running a command with a pseudo-terminal as its output, as a person at a terminal would."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path


def on_a_terminal(command: list[str], cwd: Path, timeout: float) -> tuple[int, str]:
    """Run ``command`` in ``cwd`` with a pseudo-terminal as its stdin, stdout and stderr:
    its exit code, and all it wrote."""
    parent, child = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"}
    process = subprocess.Popen(command, cwd=cwd, env=env, stdin=child, stdout=child, stderr=child)
    os.close(child)
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([parent], [], [], 1)[0]:
                continue
            try:
                chunk = os.read(parent, 65536)
            except OSError:  # EIO: the command closed the terminal
                break
            if not chunk:
                break
            output += chunk
        return process.wait(timeout=timeout), output.decode("utf-8", "replace")
    finally:
        os.close(parent)
        if process.poll() is None:
            process.kill()
            process.wait()
