"""The plain function every target serves, and a slow one for benchmarks/slowclients.py."""

import time


def square(n: int | float) -> int | float:
    """Return the square of a number: ``{"n": 4}`` answers exactly ``16``."""
    return n**2


def slow(seconds: float = 2.0) -> float:
    """Sleep ``seconds`` and return them: a call that stays in flight a while."""
    time.sleep(seconds)
    return seconds
