"""Example functions: serve them with ``firefly funcs.square funcs.cube``.

Their type hints are the schema firefly checks arguments against (see
docs/validation.rst): ``square`` takes a number, and answers 422 to anything else.
``fail`` always raises, to show how errors are answered and counted (docs/metrics.rst),
and ``slow`` takes its time, to show timeouts (docs/cli.rst). ``score`` makes a
prediction about the observation ``id``, for the prediction log (docs/predictionlog.rst).
"""

import io
import time
from typing import Annotated, BinaryIO

from pydantic import Field

# Any integer, or a float small enough that its cube is still a finite float
# (JSON has no infinity).
Number = int | Annotated[float, Field(ge=-1e100, le=1e100)]


def square(n: Number) -> int | float:
    """Return the square of a number."""
    return n**2


def cube(n: Number) -> int | float:
    """Return the cube of a number."""
    return n**3


def add(a: Number, b: Number = 0) -> int | float:
    """Add two numbers."""
    return a + b


def word_count(file: BinaryIO) -> int:
    """Count the words of an uploaded text file."""
    return len(file.read().split())


def repeat(
    text: Annotated[str, Field(max_length=1000)],
    times: Annotated[int, Field(ge=0, le=1000)] = 2,
) -> BinaryIO:
    """Return a file holding ``text`` repeated ``times`` times."""
    return io.BytesIO((text * times).encode())


def fail(message: str = "boom") -> None:
    """Always raise ``ValueError(message)``: the caller gets a 500, and the metrics count it."""
    raise ValueError(message)


def slow(seconds: Annotated[float, Field(ge=0, le=3600)] = 1.0) -> float:
    """Sleep ``seconds``, then return them: a call that runs past ``--timeout`` gets a 504."""
    time.sleep(seconds)
    return seconds


def score(id: int, income: float) -> float:
    """The likelihood that customer ``id`` churns."""
    return min(1.0, income / 100_000)
