"""ONNX copies of scikit-learn estimators: :func:`convert` writes one with skl2onnx, and
:func:`check` compares its answers with the estimator's, for ``firefly train --onnx``.

The copy follows the convention :mod:`firefly.models.onnx` describes and serves.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .onnx import (
    CLASSES_KEY,
    ESTIMATOR_KEY,
    KIND_KEY,
    METHODS,
    METHODS_KEY,
    MISSING_STRING,
    REASON_LENGTH,
    TARGET_OPSET,
    OnnxModel,
    input_dtype,
    require,
)


class OnnxMismatchError(ConfigError):
    """The ONNX copy of an estimator answers differently from the estimator."""


def convert(estimator: Any, frame: pd.DataFrame) -> bytes:
    """The ONNX copy of a fitted scikit-learn ``estimator`` (or pipeline), as bytes.

    :param estimator: a classifier, regressor or transformer fitted on ``frame``.
    :param frame: the estimator's features (other columns are ignored), typed as trained.
    :raises ConfigError: it cannot be converted: names its type and skl2onnx's reason.
    """
    skl2onnx = require("skl2onnx", "converting to ONNX")
    import onnx.helper  # installed with skl2onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    name = type(estimator).__name__
    kind = _kind(estimator)
    features = _feature_names(estimator, frame)
    tensor_types = {"float32": FloatTensorType, "object": StringTensorType}
    initial_types = [
        (feature, tensor_types[input_dtype(feature, frame[feature].dtype)]([None, 1]))
        for feature in features
    ]
    prepared = _join_inputs(_impute_missing_strings(estimator), frame[features])
    options = {id(prepared): {"zipmap": False}} if kind == "classifier" else None
    try:
        model = skl2onnx.convert_sklearn(
            prepared,
            name=name,
            initial_types=initial_types,
            options=options,
            target_opset=TARGET_OPSET,
        )
    except Exception as err:  # skl2onnx raises anything from RuntimeError to NameError
        reason = (str(err).strip() or type(err).__name__).splitlines()[0]
        reason = reason if len(reason) <= REASON_LENGTH else reason[: REASON_LENGTH - 3] + "..."
        raise ConfigError(f"cannot convert {name} to ONNX: skl2onnx says: {reason}") from err
    methods = [method for method in METHODS if hasattr(estimator, method)]
    metadata = {KIND_KEY: kind, METHODS_KEY: json.dumps(methods), ESTIMATOR_KEY: name}
    if kind == "classifier":
        metadata[CLASSES_KEY] = json.dumps(np.asarray(estimator.classes_).tolist())
    onnx.helper.set_model_props(model, metadata)
    return bytes(model.SerializeToString())


def _kind(estimator: Any) -> str:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(estimator):
        return "classifier"
    if is_regressor(estimator):
        return "regressor"
    if hasattr(estimator, "transform") and not hasattr(estimator, "predict"):
        return "transformer"
    raise ConfigError(
        f"cannot convert {type(estimator).__name__} to ONNX: firefly converts classifiers,"
        " regressors and transformers only"
    )


def _feature_names(estimator: Any, frame: pd.DataFrame) -> list[str]:
    names = getattr(estimator, "feature_names_in_", None)
    features = [str(name) for name in (frame.columns if names is None else names)]
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise ConfigError(f"the frame lacks the features {', '.join(map(repr, missing))}")
    return features


def _join_inputs(estimator: Any, features: pd.DataFrame) -> Any:
    """``estimator`` behind a step joining the inputs into one matrix (most of skl2onnx's
    converters take one input), unless it starts with a ``ColumnTransformer``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    first = estimator.steps[0][1] if isinstance(estimator, Pipeline) else estimator
    if isinstance(first, ColumnTransformer):
        return estimator
    join = ColumnTransformer([("features", "passthrough", list(features.columns))])
    return Pipeline([("features", join.fit(features)), ("estimator", estimator)])


def _impute_missing_strings(estimator: Any) -> Any:
    """``estimator``, or a copy whose string imputers look for :data:`MISSING_STRING`."""
    from sklearn.impute import SimpleImputer

    def imputers(value: Any, seen: set[int]) -> Iterator[SimpleImputer]:
        """The fitted string imputers for NaN or None in ``value`` and what it holds."""
        if id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, SimpleImputer):
            statistics = getattr(value, "statistics_", None)
            missing = value.missing_values
            if statistics is not None and statistics.dtype == object and pd.isna(missing):
                yield value
            return
        if isinstance(value, dict):
            value = list(value.values())
        elif hasattr(value, "get_params"):  # the fitted parts: steps, transformers_, ...
            value = list(vars(value).values())
        for item in value if isinstance(value, (list, tuple)) else ():
            yield from imputers(item, seen)

    if next(imputers(estimator, set()), None) is None:
        return estimator
    prepared = copy.deepcopy(estimator)
    for imputer in imputers(prepared, set()):
        imputer.missing_values = MISSING_STRING
    return prepared


def check(
    estimator: Any,
    onnx_model: bytes | OnnxModel,
    frame: pd.DataFrame,
    tolerance: float = 1e-4,
) -> float:
    """How far the ONNX copy of ``estimator`` answers from it on ``frame``.

    A classifier's labels must all agree, and its probabilities are compared (the largest
    absolute difference); a regressor's or transformer's outputs relative to their size,
    ``|onnx - sklearn| / max(1, |sklearn|)``: float32 holds about 7 digits, and a price
    of 300,000 may not be refused for being 0.03 off.

    :param onnx_model: the bytes :func:`convert` gave, or the model loaded.
    :returns: the largest difference, at most ``tolerance``.
    :raises OnnxMismatchError: the difference is beyond ``tolerance``, or labels differ.
    """
    model = onnx_model if isinstance(onnx_model, OnnxModel) else OnnxModel(onnx_model)
    features = frame[_feature_names(estimator, frame)]
    name = type(estimator).__name__
    if model.kind == "classifier":
        expected, actual = np.asarray(estimator.predict(features)), model.predict(features)
        differing = int(np.count_nonzero(expected != actual))
        if differing:
            raise OnnxMismatchError(
                f"the ONNX copy of the {name} predicts another label than scikit-learn for"
                f" {differing} of {len(features)} rows; all must agree"
            )
        if not hasattr(model, "predict_proba") or not hasattr(estimator, "predict_proba"):
            return 0.0
        method = "predict_proba"
        difference = _difference(estimator.predict_proba(features), model.predict_proba(features))
    else:
        method = "transform" if model.kind == "transformer" else "predict"
        expected = np.asarray(getattr(estimator, method)(features), dtype=float)
        actual = getattr(model, method)(features)
        difference = _difference(expected, actual, np.maximum(1.0, np.abs(expected)))
    if not difference <= tolerance:
        raise OnnxMismatchError(
            f"the ONNX copy of the {name} differs from scikit-learn by up to {difference:.3g}"
            f" in {method}, beyond the tolerance {tolerance:g}"
        )
    return difference


def _difference(expected: Any, actual: Any, scale: Any = 1.0) -> float:
    """The largest ``|expected - actual| / scale``: 0 where both are NaN, inf where one is."""
    expected, actual = np.asarray(expected, dtype=float), np.asarray(actual, dtype=float)
    if actual.size != expected.size:
        raise OnnxMismatchError(f"the ONNX copy answers {actual.size} values, not {expected.size}")
    actual = actual.reshape(expected.shape)
    differences = np.abs(expected - actual) / scale
    differences[np.isnan(expected) & np.isnan(actual)] = 0.0
    return float(np.nan_to_num(differences, nan=np.inf).max(initial=0.0))
