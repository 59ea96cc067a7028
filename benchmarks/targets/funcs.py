"""The plain function every target serves."""


def square(n: int | float) -> int | float:
    """Return the square of a number: ``{"n": 4}`` answers exactly ``16``."""
    return n**2
