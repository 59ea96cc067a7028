"""Functions the tests serve; the test processes run with this folder as cwd."""

import io
import time

ANSWER = 42


def square(n):
    """Return the square of a number."""
    return n**2


def cube(n):
    """Return the cube of a number."""
    return n**3


def add(a, b=0):
    return a + b


def greet(name, *, greeting="Hello", **extra):
    return f"{greeting}, {name}!" + "".join(f" {k}={v}" for k, v in sorted(extra.items()))


def fail(message="boom"):
    raise ValueError(message)


def slow(seconds=0.02):
    """Sleep, then say so: 20 ms by default."""
    time.sleep(float(seconds))
    return "done"


def counter(path):
    """Append a line to ``path`` and return how many it holds: shows whether the function ran."""
    with open(path, "a") as file:
        file.write("called\n")
    with open(path) as file:
        return len(file.readlines())


def word_count(file):
    """Count the words of an uploaded file."""
    return len(file.read().split())


def upload_info(file, label="none"):
    data = file.read()
    return {"filename": file.filename, "size": len(data), "label": label}


def repeat(text, times=2):
    """Return a file holding ``text`` repeated ``times`` times."""
    return io.BytesIO((text * int(times)).encode())


def big_file(megabytes=3):
    return io.BytesIO(b"x" * (int(megabytes) * 1024 * 1024))


def numpy_values():
    import numpy as np

    return {
        "int": np.int64(3),
        "float": np.float32(0.5),
        "bool": np.bool_(True),
        "array": np.arange(6).reshape(2, 3),
        "strided": np.arange(10)[::2],
    }


def pandas_values():
    import pandas as pd

    frame = pd.DataFrame({"x": [1, 2], "y": [0.5, None]})
    return {"frame": frame, "series": frame["x"], "timestamp": pd.Timestamp("2024-01-02")}


def unserializable():
    return object()


def busy(seconds=0.02, swallow=False):
    """Compute for ``seconds`` in Python; with ``swallow``, catch every Exception meanwhile."""
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        try:
            sum(range(100))
        except Exception:
            if not swallow:
                raise
    return "done"


def scored(id, x):
    """Twice ``x``: a prediction about the observation ``id``."""
    return 2 * x
