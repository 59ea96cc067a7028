"""The churn probability of one customer: the function ``config.yml`` serves at ``/predict``.

The pipeline ``train.py`` saved is loaded once, when the server imports this module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from train import DTYPES

PIPELINE_PATH = os.environ.get("PIPELINE_PATH", str(Path(__file__).with_name("pipeline.joblib")))
pipeline = joblib.load(PIPELINE_PATH)


def predict(id: int, observation: dict[str, Any]) -> dict[str, float]:
    """The probability that customer ``observation`` churns; ``id`` is its observation id."""
    frame = pd.DataFrame([observation], columns=list(DTYPES)).astype(DTYPES)
    return {"proba": float(pipeline.predict_proba(frame)[0, 1])}
