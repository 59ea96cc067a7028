"""Write churn.csv and titanic.csv: small synthetic data sets, the same on every run.

Both files are committed; this script is how they were made (``python make_data.py``),
with a fixed seed, so that nothing is downloaded. The rows are made up: the
labels depend on the columns in a plausible way, with noise, so that a model
learns something from them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEED = 10
CHURN_ROWS = 400
TITANIC_ROWS = 600


def churn(rng: np.random.Generator, rows: int = CHURN_ROWS) -> pd.DataFrame:
    """Five scores of a customer (0 to 100, one decimal) and whether they left (``churned``)."""
    scores = np.round(rng.uniform(0, 100, size=(rows, 5)), 1)
    frame = pd.DataFrame(scores, columns=[f"score_{number}" for number in range(1, 6)])
    weights = np.array([0.05, -0.04, 0.03, -0.02, 0.01])
    logit = (scores - 50) @ weights + rng.normal(0, 1.0, rows)
    frame["churned"] = (logit > 0).astype(int)
    return frame


def titanic(rng: np.random.Generator, rows: int = TITANIC_ROWS) -> pd.DataFrame:
    """Passengers: class, sex, age (some missing), relatives, fare, port (some missing)."""
    pclass = rng.choice([1, 2, 3], size=rows, p=[0.25, 0.2, 0.55])
    sex = rng.choice(["male", "female"], size=rows, p=[0.65, 0.35])
    age = np.round(np.clip(rng.normal(30, 14, rows), 0.5, 80), 0)
    sibsp = rng.choice([0, 1, 2, 3], size=rows, p=[0.68, 0.23, 0.06, 0.03])
    parch = rng.choice([0, 1, 2], size=rows, p=[0.76, 0.14, 0.10])
    base_fare = np.array([0.0, 80.0, 22.0, 12.0])[pclass]
    fare = np.round(base_fare * rng.lognormal(0, 0.4, rows), 2)
    embarked = rng.choice(["S", "C", "Q"], size=rows, p=[0.72, 0.19, 0.09]).astype(object)
    logit = (
        2.4 * (sex == "female")
        - 1.0 * (pclass - 1)
        - 0.03 * (age - 30)
        - 0.3 * sibsp
        + 0.3 * (embarked == "C")
        - 0.6
        + rng.normal(0, 0.8, rows)
    )
    frame = pd.DataFrame(
        {
            "pclass": pclass,
            "sex": sex,
            "age": age,
            "sibsp": sibsp,
            "parch": parch,
            "fare": fare,
            "embarked": embarked,
            "survived": (logit > 0).astype(int),
        }
    )
    frame.loc[rng.random(rows) < 0.2, "age"] = np.nan
    frame.loc[rng.random(rows) < 0.02, "embarked"] = np.nan
    return frame


def main() -> None:
    """Write both files in the current folder."""
    rng = np.random.default_rng(SEED)
    churn(rng).to_csv("churn.csv", index=False)
    titanic(rng).to_csv("titanic.csv", index=False)


if __name__ == "__main__":
    main()
