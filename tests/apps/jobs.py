"""Functions the execution tests run in the background."""

import time


def double(n: int) -> int:
    """Twice ``n``, at once."""
    return 2 * n


def nap(seconds: float = 0.2, tag: str = "") -> str:
    """Sleep ``seconds`` (in short steps, so that a timeout interrupts it), then say so."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)
    return f"slept {seconds}{tag}"


def broken(message: str = "no") -> None:
    raise ValueError(message)
