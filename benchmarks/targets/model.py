"""The scikit-learn model every target serves, loaded once at import.

``benchmarks/run.py`` trains it and passes its path in ``BENCH_MODEL_PATH``.
"""

import os
from collections.abc import Sequence
from typing import Any

import joblib

MODEL_ENV = "BENCH_MODEL_PATH"

model = joblib.load(os.environ[MODEL_ENV])


def predict(a: Sequence[Sequence[float]]) -> Any:
    """Predict the iris species (0, 1 or 2) of each row of ``a``, as a NumPy array."""
    return model.predict(a)
