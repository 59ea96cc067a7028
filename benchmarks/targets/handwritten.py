"""Hand-written model functions: what a user serves without firefly's model endpoints.

``benchmarks/models.py`` serves them with ``firefly handwritten.churn handwritten.titanic``
against the same model files served by ``firefly --models``: each loads
``<BENCH_MODELS>/<name>/v1/model.joblib`` once, at import, and turns the records it
is sent (``{"records": [{...}, ...]}``) into a DataFrame of the model's features,
predicts, and answers a list.

``records`` is annotated ``Any``, so validation checks no more than that it was given:
the function does the least work a wrapper can, which is the fair opponent.
"""

import os
from typing import Any

import joblib
import pandas as pd

MODELS_ENV = "BENCH_MODELS"


def load(name: str) -> tuple[Any, list[str]]:
    """The model ``name`` version v1 of the repository, and its feature names."""
    model = joblib.load(os.path.join(os.environ[MODELS_ENV], name, "v1", "model.joblib"))
    return model, list(model.feature_names_in_)


churn_model, CHURN_FEATURES = load("churn")
titanic_model, TITANIC_FEATURES = load("titanic")


def churn(records: Any) -> list[Any]:
    """Predict ``churned`` for each record of the scores."""
    frame = pd.DataFrame(records, columns=CHURN_FEATURES)
    return churn_model.predict(frame).tolist()


def titanic(records: Any) -> list[Any]:
    """Predict ``survived`` for each passenger (missing values as null)."""
    frame = pd.DataFrame(records, columns=TITANIC_FEATURES)
    return titanic_model.predict(frame).tolist()
