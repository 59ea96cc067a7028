"""Small models trained in the tests, saved as a repository's version folders."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

CHURN_FEATURES = {"score_1": "float64", "score_2": "float64", "age": "int64"}


def churn_frame(rows: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Numeric features and a 0/1 label that depends on the scores."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "score_1": rng.normal(size=rows),
            "score_2": rng.normal(size=rows),
            "age": rng.integers(18, 80, size=rows),
        }
    )
    return frame, (frame.score_1 + frame.score_2 > 0).astype(int)


def churn_model(c: float = 1.0) -> Any:
    """A scaler and logistic regression fitted on :func:`churn_frame`."""
    frame, label = churn_frame()
    return make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(frame, label)


def titanic_frame(rows: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Categorical and numeric columns with missing values, and a 0/1 label."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["male", "female"], size=rows)
    age = rng.uniform(1, 80, size=rows)
    age[rng.random(rows) < 0.2] = np.nan
    embarked = rng.choice(["S", "C", "Q", None], size=rows, p=[0.6, 0.2, 0.15, 0.05])
    frame = pd.DataFrame(
        {
            "sex": sex,
            "age": age,
            "fare": rng.uniform(5, 100, size=rows),
            "embarked": pd.Series(embarked, dtype=object),
        }
    )
    label = ((sex == "female") | (np.nan_to_num(age, nan=30) < 12)).astype(int)
    return frame, pd.Series(label)


def titanic_model() -> Any:
    """A column transformer (one-hot categories, imputed numbers) and logistic regression."""
    frame, label = titanic_frame()
    categorical = make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
    )
    numeric = make_pipeline(SimpleImputer(), StandardScaler())
    columns = ColumnTransformer(
        [("categorical", categorical, ["sex", "embarked"]), ("numeric", numeric, ["age", "fare"])]
    )
    return make_pipeline(columns, LogisticRegression()).fit(frame, label)


def regression_model() -> Any:
    """A linear regression on :func:`churn_frame`'s features, predicting score_1 + 2 score_2."""
    frame, _ = churn_frame()
    return LinearRegression().fit(frame, frame.score_1 + 2 * frame.score_2)


def save_version(
    repository: Path,
    name: str,
    version: str,
    model: Any,
    manifest: dict[str, Any] | None = None,
    file_name: str = "model.joblib",
) -> Path:
    """Write ``repository/name/version/`` all at once, as ``firefly train`` does."""
    folder = repository / name / version
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".staging-"))
    joblib.dump(model, staging / file_name)
    if manifest is not None:
        (staging / "model.yml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    os.rename(staging, folder)
    return folder


def save_repository(root: Path) -> Path:
    """``root/models``: ``churn`` v1 (C=0.01) and v2 (dtypes in model.yml), ``titanic`` v1."""
    models = root / "models"
    save_version(models, "churn", "v1", churn_model(c=0.01))
    save_version(models, "churn", "v2", churn_model(), {"features": CHURN_FEATURES})
    save_version(models, "titanic", "v1", titanic_model())
    return models
