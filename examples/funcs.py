"""Example functions: serve them with ``firefly funcs.square funcs.cube``."""

import io


def square(n):
    """Return the square of a number."""
    return n**2


def cube(n):
    """Return the cube of a number."""
    return n**3


def add(a, b=0):
    """Add two numbers."""
    return a + b


def word_count(file):
    """Count the words of an uploaded text file."""
    return len(file.read().split())


def repeat(text, times=2):
    """Return a file holding ``text`` repeated ``times`` times."""
    return io.BytesIO((text * int(times)).encode())
