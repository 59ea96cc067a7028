"""What ``GET /v2/models/<name>[/versions/<version>]`` tells of a version: its platform, and
its inputs (one per feature) and outputs (one per method) as V2 tensor metadata."""

from __future__ import annotations

from typing import Any

from .served import LoadedVersion, ServedModel
from .v2tensors import datatype_for, datatype_of, plain


def model_metadata(served: ServedModel, version: LoadedVersion) -> dict[str, Any]:
    """A version's metadata: the model's versions, its platform, inputs and outputs."""
    schema = version.schema
    return {
        "name": served.name,
        "versions": list(served.versions),
        "platform": platform(version),
        "inputs": [
            {"name": name, "datatype": datatype_for(schema.features[name]), "shape": [-1]}
            for name in schema.names
        ],
        "outputs": [output_metadata(version, method) for method in version.methods],
    }


def platform(version: LoadedVersion) -> str:
    """What runs the model: ``onnx`` for an ONNX file, else the package of the model's class
    (``sklearn``, ``xgboost``, ...)."""
    if version.source.file.suffix == ".onnx":
        return "onnx"
    return type(version.model).__module__.partition(".")[0]


def output_metadata(version: LoadedVersion, method: str) -> dict[str, Any]:
    """The tensor metadata of the output of ``method``; predict_proba's names its classes."""
    classes = [plain(label) for label in version.classes or ()]
    if method == "predict_proba":
        return {
            "name": method,
            "datatype": "FP64",
            "shape": [-1, len(classes)],
            "parameters": {"classes": classes},
        }
    if method == "predict":
        return {"name": method, "datatype": datatype_of(classes) or "FP64", "shape": [-1]}
    if method == "decision_function" and len(classes) > 2:
        return {"name": method, "datatype": "FP64", "shape": [-1, len(classes)]}
    shape = [-1, -1] if method == "transform" else [-1]
    return {"name": method, "datatype": "FP64", "shape": shape}
