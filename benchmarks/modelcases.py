"""What benchmarks/models.py compares: the cases, their requests, the models trained for them.

Shared by the load (models.py) and the instruction count (modelinstructions.py) of a model
endpoint against the hand-written function of targets/handwritten.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from run import BenchmarkError, Function

HERE = Path(__file__).resolve().parent
TARGETS_DIR = HERE / "targets"
EXAMPLE_DIR = HERE.parent / "examples" / "models"
MODELS_ENV = "BENCH_MODELS"  # read by targets/handwritten.py
#: Each model: the training function of examples/models, its CSV, and its label column.
TRAINING = {
    "churn": ("train_churn.fit", "churn.csv", "churned"),
    "titanic": ("train_titanic.fit", "titanic.csv", "survived"),
}
BATCHES = (1, 100)
MODEL, FUNCTION = "model", "function"
TARGETS = (MODEL, FUNCTION)
# The least ratio, in every case, of the model endpoint's rps to the function's, or of the
# function's instructions per call to the model endpoint's: the endpoint does no more work.
GOAL = 1.0
TRAIN_TIMEOUT = 120


@dataclass(frozen=True)
class Case:
    """A model and how many records each request sends."""

    model: str
    rows: int

    @property
    def name(self) -> str:
        """How the case reads in the report: ``churn x1``."""
        return f"{self.model} x{self.rows}"


CASES = tuple(Case(model, rows) for model in TRAINING for rows in BATCHES)


def records(model: str, rows: int) -> list[dict[str, Any]]:
    """The first ``rows`` rows of the model's CSV as JSON records (missing values as None)."""
    import pandas as pd

    _, data, label = TRAINING[model]
    frame = pd.read_csv(EXAMPLE_DIR / data).drop(columns=label).head(rows)
    return [
        {key: None if pd.isna(value) else value for key, value in record.items()}
        for record in frame.astype(object).to_dict("records")
    ]


def request(target: str, case: Case) -> Function:
    """The path and body wrk sends to ``target`` in ``case``, as a run.py Function."""
    sent = records(case.model, case.rows)
    if target == MODEL:
        body = sent[0] if case.rows == 1 else sent  # one record is answered with a bare result
        return Function(f"{case.model}/predict", json.dumps(body), None)
    return Function(case.model, json.dumps({"records": sent}), None)


def train(models: Path) -> None:
    """Train both models of examples/models into the repository ``models`` with firefly train."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FIREFLY_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ in examples/models
    for model, (function, data, _) in TRAINING.items():
        command = [sys.executable, "-m", "firefly", "train", function, data]
        command += ["--model", model, "--models", str(models), "--version", "v1"]
        result = subprocess.run(
            command,
            cwd=EXAMPLE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TRAIN_TIMEOUT,
        )
        if result.returncode != 0:
            raise BenchmarkError(f"firefly train {function} failed:\n{result.stderr}")
