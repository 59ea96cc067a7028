"""Train a small classifier on the iris data set and save it with joblib.

Run it once before serving: ``python train.py`` writes ``model.joblib``.
"""

import sys

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def train(path="model.joblib"):
    """Fit the model and save it to ``path``."""
    data = load_iris()
    model = LogisticRegression(max_iter=1000).fit(data.data, data.target)
    joblib.dump(model, path)
    return path


if __name__ == "__main__":
    print("saved", train(*sys.argv[1:]))
