"""Train the churn model: ``firefly train train_churn.fit churn.csv --model churn``.

``fit`` makes version v1, ``fit_v2`` the next one, with another regularization
strength. Each gets a DataFrame of churn.csv and returns the fitted pipeline
with its metrics on a held-out quarter of the rows; ``firefly train`` writes
them to ``models/churn/<version>/``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

FEATURES = ["score_1", "score_2", "score_3", "score_4", "score_5"]
LABEL = "churned"


def fit(frame: pd.DataFrame, c: float = 1.0) -> tuple[Pipeline, dict[str, Any]]:
    """A scaler and a logistic regression (strength ``1 / c``) fitted on three quarters of
    ``frame``, and its accuracy and ROC AUC on the rest."""
    train, test = train_test_split(frame, test_size=0.25, random_state=0, stratify=frame[LABEL])
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c))
    model.fit(train[FEATURES], train[LABEL])
    probabilities = model.predict_proba(test[FEATURES])[:, 1]
    metrics = {
        "accuracy": round(float(accuracy_score(test[LABEL], model.predict(test[FEATURES]))), 4),
        "roc_auc": round(float(roc_auc_score(test[LABEL], probabilities)), 4),
        "C": c,
    }
    return model, metrics


def fit_v2(frame: pd.DataFrame) -> tuple[Pipeline, dict[str, Any]]:
    """The same pipeline, regularized much more strongly (C=0.01): its probabilities are
    closer to one half."""
    return fit(frame, c=0.01)
