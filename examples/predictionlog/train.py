"""Train the churn pipeline ``predict.py`` serves, on synthetic customers, and save it with joblib.

Run it once before serving: ``python train.py`` writes ``pipeline.joblib``. The
customers are made with NumPy from a fixed seed, so every run trains the same model.
"""

from __future__ import annotations

import sys

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

#: The features of an observation and their dtypes, in the order the pipeline takes them.
DTYPES = {
    "tenure": "float64",  # months as a customer
    "monthly_charges": "float64",
    "support_calls": "int64",  # in the last three months
    "plan": "object",  # "basic", "standard" or "premium"
}
NUMBERS = ["tenure", "monthly_charges", "support_calls"]
PLANS = ["basic", "standard", "premium"]
SEED = 42


def make_customers(rows: int = 2000, seed: int = SEED) -> tuple[pd.DataFrame, np.ndarray]:
    """Synthetic customers and whether each churned (1) or stayed (0)."""
    random = np.random.default_rng(seed)
    plan = random.choice(PLANS, size=rows, p=[0.5, 0.3, 0.2])
    frame = pd.DataFrame(
        {
            "tenure": random.uniform(0, 72, rows).round(),
            "monthly_charges": random.normal(60, 20, rows).clip(15, 150).round(2),
            "support_calls": random.poisson(1.5, rows),
            "plan": plan,
        }
    ).astype(DTYPES)
    # Short tenure, high charges and many calls to support make a customer leave.
    logit = (
        1.0
        - 0.06 * frame["tenure"]
        + 0.03 * (frame["monthly_charges"] - 60)
        + 0.6 * frame["support_calls"]
        - 0.8 * (frame["plan"] == "premium")
    )
    churned = random.random(rows) < 1 / (1 + np.exp(-logit))
    return frame, churned.astype(int)


def train(path: str = "pipeline.joblib") -> str:
    """Fit the pipeline on the synthetic customers and save it to ``path``."""
    frame, churned = make_customers()
    pipeline = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        ("numbers", StandardScaler(), NUMBERS),
                        ("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
                    ]
                ),
            ),
            ("model", LogisticRegression()),
        ]
    )
    pipeline.fit(frame, churned)
    joblib.dump(pipeline, path)
    accuracy = pipeline.score(frame, churned)
    print(f"saved {path}: accuracy {accuracy:.3f} on {len(frame)} customers")
    return path


if __name__ == "__main__":
    train(*sys.argv[1:])
