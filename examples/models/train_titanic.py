"""Train the Titanic-style model: ``firefly train train_titanic.fit titanic.csv --model titanic``.

The pipeline takes the CSV's columns as they are, so that the server is sent
them as they are too: missing ages and ports are filled in (median,
most frequent), class, sex and port are one-hot encoded (a value not seen in
training is all zeros rather than an error), and a logistic regression
predicts ``survived``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

NUMERIC = ["age", "sibsp", "parch", "fare"]
CATEGORICAL = ["pclass", "sex", "embarked"]
#: The CSV's columns the model takes, in its order (the server lists them in this order).
FEATURES = ["pclass", "sex", "age", "sibsp", "parch", "fare", "embarked"]
LABEL = "survived"


def pipeline() -> Pipeline:
    """The unfitted pipeline: imputation and encoding per column, then the classifier."""
    columns = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMERIC),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                CATEGORICAL,
            ),
        ]
    )
    return make_pipeline(columns, LogisticRegression(max_iter=1000))


def fit(frame: pd.DataFrame) -> tuple[Pipeline, dict[str, Any]]:
    """The pipeline fitted on three quarters of ``frame``, and its accuracy on the rest."""
    features = frame[FEATURES]
    train_x, test_x, train_y, test_y = train_test_split(
        features, frame[LABEL], test_size=0.25, random_state=0, stratify=frame[LABEL]
    )
    model = pipeline().fit(train_x, train_y)
    accuracy = float(accuracy_score(test_y, model.predict(test_x)))
    return model, {"accuracy": round(accuracy, 4), "rows_held_out": len(test_x)}
