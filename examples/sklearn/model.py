"""Serve the model ``train.py`` saved: ``firefly model.predict``.

The model is loaded once, when the server imports this module.
"""

import os

import joblib

MODEL_PATH = os.environ.get("MODEL_PATH", os.path.join(os.path.dirname(__file__), "model.joblib"))
model = joblib.load(MODEL_PATH)


def predict(a):
    """Predict the iris species (0, 1 or 2) of each row of measurements in ``a``."""
    return model.predict(a)


def predict_proba(a):
    """The probability of each species for each row of ``a``."""
    return model.predict_proba(a)
