"""The same functions as ordinary Flask views: ``gunicorn flask_app:app`` (from this folder)."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from funcs import square
from model import predict

app = Flask(__name__)


@app.post("/square")
def square_view() -> Response:
    """``POST /square {"n": 4}``."""
    return jsonify(square(**request.get_json()))


@app.post("/predict")
def predict_view() -> Response:
    """``POST /predict {"a": [[...]]}``."""
    return jsonify(predict(**request.get_json()).tolist())
