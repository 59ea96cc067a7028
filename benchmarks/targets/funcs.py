"""The plain function every target serves."""


def square(n: float) -> float:
    """Return the square of a number."""
    return n**2
