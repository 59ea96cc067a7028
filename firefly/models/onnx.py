"""ONNX models: scikit-learn estimators converted with skl2onnx, served on onnxruntime.

:func:`convert` writes the ONNX copy of a fitted estimator, :func:`check` compares the
copy's outputs with the estimator's, and :class:`OnnxModel` serves an ``.onnx`` file
with the methods and attributes of a scikit-learn estimator, so that the model
endpoints treat both alike. Both sides follow one convention:

- **One input per feature column**, named as the column, of shape ``[None, 1]``, in
  the order of the estimator's ``feature_names_in_``; so a ``ColumnTransformer`` that
  selects its columns by name converts.
- **Input types.** Numbers, integers and booleans included, are ``float`` tensors
  (float32): onnxruntime has no double kernel for the imputer and mixes no double
  trees with float outputs, and skl2onnx refuses an imputer over integer and float
  columns together; scikit-learn's trees compare in float32 as well. Integers above
  2**24 lose their last digits. Strings, ``object`` and ``category`` columns are
  ``string`` tensors (a category of numbers is a number).
- **Missing strings** are sent as :data:`MISSING_STRING` (``"nan"``): skl2onnx writes
  the missing category a ``OneHotEncoder`` learnt (NaN) as ``"nan"``, and
  :func:`convert` makes a ``SimpleImputer`` fitted on strings look for ``"nan"``,
  since skl2onnx only imputes strings equal to a string. The string ``"nan"`` is thus
  missing too, as pandas' ``read_csv`` reads it.
- **Outputs.** A classifier has ``label`` (``[N]``) and ``probabilities``
  (``[N, classes]``, a tensor: converted with ZipMap off); a regressor or transformer
  has one output, ``variable``.
- **Metadata** (the model's ``metadata_props``, as strings): :data:`KIND_KEY`
  (``classifier``, ``regressor`` or ``transformer``), :data:`CLASSES_KEY` (the class
  labels as a JSON list, in the order of the probabilities), :data:`METHODS_KEY` (the
  methods as a JSON list) and :data:`ESTIMATOR_KEY` (the estimator's class name).

A file made elsewhere is served too when its inputs follow the convention; without
the metadata, a model with a second tensor output is taken as a classifier, its
classes read from the graph's classifier nodes when the ``onnx`` package is
installed.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError

#: The metadata key of the model's kind: ``classifier``, ``regressor`` or ``transformer``.
KIND_KEY = "firefly.kind"
#: The metadata key of a classifier's class labels: a JSON list, in the probabilities' order.
CLASSES_KEY = "firefly.classes"
#: The metadata key of the methods the model answers: a JSON list, e.g. ``["predict"]``.
METHODS_KEY = "firefly.methods"
#: The metadata key of the converted estimator's class name, e.g. ``Pipeline``.
ESTIMATOR_KEY = "firefly.estimator"
#: What a missing value of a string column is sent as (see the module's docstring).
MISSING_STRING = "nan"
#: The opsets written: those of onnxruntime 1.13 and later, so that a file converted
#: with a new skl2onnx still loads on the oldest onnxruntime firefly supports.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
#: A classifier's outputs, as skl2onnx names them.
LABEL_OUTPUT, PROBABILITIES_OUTPUT = "label", "probabilities"
KINDS = ("classifier", "regressor", "transformer")
METHODS = ("predict", "predict_proba", "transform")
INSTALL_HINT = "pip install firefly-python[onnx]"
#: onnxruntime's input types, as the numpy dtype a column is converted to.
ONNX_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}
REASON_LENGTH = 200  # of skl2onnx's reason in a conversion error, which can be a page


class OnnxMismatchError(ConfigError):
    """The ONNX copy of an estimator answers differently from the estimator."""


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError(f"serving .onnx files needs onnxruntime: {INSTALL_HINT}") from None
    return onnxruntime


def _skl2onnx() -> Any:
    try:
        import skl2onnx
    except ImportError:
        raise ConfigError(f"converting to ONNX needs skl2onnx: {INSTALL_HINT}") from None
    return skl2onnx


def convert(estimator: Any, frame: pd.DataFrame) -> bytes:
    """The ONNX copy of a fitted scikit-learn ``estimator`` (or pipeline), as bytes.

    :param estimator: a classifier, regressor or transformer fitted on ``frame``.
    :param frame: data with the estimator's feature columns (others are ignored): their
        dtypes give the input types.
    :raises ConfigError: the estimator cannot be converted; the message names its type
        and skl2onnx's reason.
    """
    skl2onnx = _skl2onnx()
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
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if len(reason) > REASON_LENGTH:
            reason = reason[: REASON_LENGTH - 3] + "..."
        raise ConfigError(f"cannot convert {name} to ONNX: skl2onnx says: {reason}") from err
    methods = [method for method in METHODS if hasattr(estimator, method)]
    metadata = {KIND_KEY: kind, METHODS_KEY: json.dumps(methods), ESTIMATOR_KEY: name}
    if kind == "classifier":
        metadata[CLASSES_KEY] = json.dumps(np.asarray(estimator.classes_).tolist())
    for key, value in metadata.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    data: bytes = model.SerializeToString()
    return data


def input_dtype(name: str, dtype: Any) -> str:
    """The numpy dtype, ``float32`` or ``object``, a column of ``dtype`` is sent to ONNX as.

    :raises ConfigError: a column of dates, durations or complex numbers.
    """
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    if pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)
    ):
        return "float32"
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        return "object"
    raise ConfigError(
        f"feature {name!r} is of dtype {str(dtype)!r}, which ONNX inputs cannot be:"
        " convert it to numbers or strings before training"
    )


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
        raise ConfigError(
            f"the frame lacks the {type(estimator).__name__}'s features"
            f" {', '.join(map(repr, missing))}"
        )
    return features


def _join_inputs(estimator: Any, features: pd.DataFrame) -> Any:
    """``estimator`` behind a step that joins the inputs into one matrix, as it was fitted.

    Most of skl2onnx's converters take one input; a ``ColumnTransformer`` first selects
    the columns by name itself, so a pipeline starting with one is left as it is.
    """
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

    def string_imputers(value: Any, seen: set[int]) -> Iterator[SimpleImputer]:
        if id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, SimpleImputer):
            statistics = getattr(value, "statistics_", None)
            if statistics is not None and statistics.dtype == object:
                yield value
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from string_imputers(item, seen)
        elif isinstance(value, dict):
            for item in value.values():
                yield from string_imputers(item, seen)
        elif hasattr(value, "get_params") and hasattr(value, "__dict__"):
            # the fitted parts: a Pipeline's steps, a ColumnTransformer's transformers_
            for item in vars(value).values():
                yield from string_imputers(item, seen)

    imputers = string_imputers(estimator, set())
    if not any(_is_missing(imputer.missing_values) for imputer in imputers):
        return estimator
    prepared = copy.deepcopy(estimator)
    for imputer in string_imputers(prepared, set()):
        if _is_missing(imputer.missing_values):
            imputer.missing_values = MISSING_STRING
    return prepared


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


class OnnxModel:
    """An ``.onnx`` file on onnxruntime, with the methods of a scikit-learn estimator.

    ``predict(frame)`` and, where the model has them, ``predict_proba(frame)`` and
    ``transform(frame)`` take a DataFrame holding the columns of ``feature_names_in_``
    (the module's docstring gives the conventions); ``hasattr`` is false for the
    methods the model does not answer, and for ``classes_`` when it is no classifier.

    The session runs on the CPU with one thread (``threads``): a server runs a worker
    per core, and onnxruntime's default of a thread per core in every worker would
    oversubscribe them, while a request of a few rows gains nothing from more. With one
    thread the session starts no thread pool, so a model loaded before the server forks
    its workers runs in each of them. ``InferenceSession.run`` is thread-safe.

    :param source: the path of the ``.onnx`` file, or its bytes.
    :param threads: onnxruntime's intra-op threads.
    :raises ConfigError: onnxruntime is missing, or the file cannot be loaded or has
        inputs that do not follow the convention.
    """

    def __init__(self, source: str | os.PathLike[str] | bytes, *, threads: int = 1) -> None:
        ort = _onnxruntime()
        self.path = None if isinstance(source, bytes) else os.fspath(source)
        what = "the ONNX model" if self.path is None else repr(self.path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: its warnings are about its own graph
        try:
            self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime's errors share no base class
            raise ConfigError(f"cannot load {what} with onnxruntime: {err}") from err
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self.feature_dtypes: dict[str, str] = {}
        for node in self.session.get_inputs():
            shape = list(node.shape)
            if node.type not in ONNX_DTYPES or len(shape) != 2 or shape[1] != 1:
                raise ConfigError(
                    f"{what}: input {node.name!r} is a {node.type} of shape {shape}; firefly"
                    " serves ONNX models with one input per feature column, of shape"
                    " [None, 1] (firefly.models.onnx.convert writes them)"
                )
            self.feature_dtypes[node.name] = ONNX_DTYPES[node.type]
        self.feature_names_in_ = np.array(list(self.feature_dtypes), dtype=object)
        self.n_features_in_ = len(self.feature_dtypes)
        self._names = list(self.feature_dtypes)
        dtypes = set(self.feature_dtypes.values())
        # one dtype of numbers: a frame of just the features converts in one piece
        self._matrix_dtype = dtypes.pop() if len(dtypes) == 1 and "object" not in dtypes else None
        outputs = self.session.get_outputs()
        self.kind = self.metadata.get(KIND_KEY) or _guessed_kind(outputs)
        if self.kind not in KINDS:
            raise ConfigError(f"{what}: unknown {KIND_KEY} {self.kind!r}; expected one of {KINDS}")
        names = [output.name for output in outputs]
        self._first = names[0]
        self._probabilities: str | None = None
        self._zipmap = False
        if self.kind == "classifier":
            self._first = LABEL_OUTPUT if LABEL_OUTPUT in names else names[0]
            probabilities = PROBABILITIES_OUTPUT if PROBABILITIES_OUTPUT in names else names[-1]
            methods = json.loads(self.metadata.get(METHODS_KEY, '["predict", "predict_proba"]'))
            if probabilities != self._first and "predict_proba" in methods:
                self._probabilities = probabilities
                self._zipmap = outputs[names.index(probabilities)].type.startswith("seq(")
        self._classes = _classes(self.metadata, source) if self.kind == "classifier" else None
        if self._zipmap and self._classes is None:
            self._probabilities = None  # no order to give the probabilities' columns

    def __repr__(self) -> str:
        return f"OnnxModel({self.path!r})" if self.path else "OnnxModel(<bytes>)"

    @property
    def classes_(self) -> np.ndarray:
        """The class labels of a classifier, in the order of ``predict_proba``'s columns."""
        if self._classes is None:
            raise AttributeError(f"{self!r} is not a classifier with known classes")
        return self._classes

    @property
    def predict(self) -> Callable[[pd.DataFrame], np.ndarray]:
        """The predictions, one a row: labels of a classifier, values of a regressor."""
        if self.kind == "transformer":
            raise AttributeError(f"{self!r} is a transformer: it has transform, not predict")
        return self._predict

    def _predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The predictions, one a row.

        :raises ValueError: a feature is missing, cannot be converted, or onnxruntime fails.
        """
        result = self._run(self._first, frame)
        if self._classes is not None and self._classes.dtype == bool:
            result = result.astype(bool)  # skl2onnx labels booleans 0 and 1
        if result.ndim == 2 and result.shape[1] == 1:
            return result.ravel()
        return result

    @property
    def predict_proba(self) -> Callable[[pd.DataFrame], np.ndarray]:
        """The probability of each class a row (columns in ``classes_`` order)."""
        if self._probabilities is None:
            raise AttributeError(f"{self!r} has no probabilities output, so no predict_proba")
        return self._predict_proba

    def _predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """The probability of each class a row (columns in ``classes_`` order)."""
        assert self._probabilities is not None
        if not self._zipmap:
            return self._run(self._probabilities, frame)
        assert self._classes is not None
        rows = self._run(self._probabilities, frame)
        return np.array([[row[label] for label in self._classes] for row in rows], dtype=float)

    @property
    def transform(self) -> Callable[[pd.DataFrame], np.ndarray]:
        """The transformed rows, as a 2-d array (transformers only)."""
        if self.kind != "transformer":
            raise AttributeError(f"{self!r} is a {self.kind}: it has no transform")
        return self._transform

    def _transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The transformed rows, as a 2-d array."""
        return self._run(self._first, frame)

    def _run(self, output: str, frame: pd.DataFrame) -> Any:
        feeds = self._feeds(frame)
        try:
            return self.session.run([output], feeds)[0]
        except Exception as err:  # onnxruntime's errors share no base class
            raise ValueError(f"{self!r} failed on {len(frame)} rows: {err}") from err

    def _feeds(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """The model's inputs: each feature column as an ``[N, 1]`` array of its dtype."""
        if self._matrix_dtype is not None and list(frame.columns) == self._names:
            # ten times faster than a column at a time, which makes a Series of each
            na_value = np.nan if self._matrix_dtype.startswith("float") else None
            try:
                matrix = frame.to_numpy(dtype=self._matrix_dtype, na_value=na_value)
            except (TypeError, ValueError):
                pass  # a column at a time, to name the one that cannot be converted
            else:
                return dict(
                    zip(self._names, np.ascontiguousarray(matrix.T)[:, :, None], strict=True)
                )
        missing = [name for name in self.feature_dtypes if name not in frame.columns]
        if missing:
            raise ValueError(f"missing features: {', '.join(map(repr, missing))}")
        feeds = {}
        for name, dtype in self.feature_dtypes.items():
            column = frame[name]
            try:
                if dtype == "object":
                    values = column.to_numpy(dtype=object)
                    array = np.where(pd.isna(values), MISSING_STRING, values.astype(str))
                elif dtype.startswith("float"):
                    array = column.to_numpy(dtype=dtype, na_value=np.nan)
                else:
                    array = column.to_numpy(dtype=dtype)
            except (TypeError, ValueError) as err:
                raise ValueError(f"feature {name!r} cannot be converted to {dtype}: {err}") from err
            feeds[name] = array.reshape(-1, 1)
        return feeds


def _guessed_kind(outputs: list[Any]) -> str:
    """The kind of a model without firefly's metadata: a classifier has two outputs."""
    return "classifier" if len(outputs) >= 2 else "regressor"


def _classes(metadata: Mapping[str, str], source: str | os.PathLike[str] | bytes) -> Any:
    """The class labels from the metadata, else from the graph's classifier nodes."""
    if CLASSES_KEY in metadata:
        labels = json.loads(metadata[CLASSES_KEY])
        strings = any(isinstance(label, str) for label in labels)
        return np.array(labels, dtype=object if strings else None)
    try:
        import onnx
    except ImportError:
        return None
    model = onnx.load_from_string(source) if isinstance(source, bytes) else onnx.load(source)
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.name == "classlabels_strings":
                return np.array([label.decode() for label in attribute.strings], dtype=object)
            if attribute.name in ("classlabels_int64s", "classlabels_ints"):
                return np.array(list(attribute.ints), dtype=np.int64)
    return None


def check(
    estimator: Any,
    onnx_model: bytes | OnnxModel,
    frame: pd.DataFrame,
    tolerance: float = 1e-4,
) -> float:
    """How far the ONNX copy of ``estimator`` answers from it on ``frame``.

    A classifier's probabilities are compared (the largest absolute difference), and
    its labels must all agree; a regressor's predictions and a transformer's outputs
    are compared relative to their size, ``|onnx - sklearn| / max(1, |sklearn|)``:
    absolute below 1 and relative above, since float32 holds about 7 digits and a
    price of 300,000 may not be refused for being 0.03 off.

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
                f" {differing} of {len(features)} rows ({differing / len(features):.2%});"
                " all must agree"
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
    expected = np.asarray(expected, dtype=float)
    actual = np.asarray(actual, dtype=float)
    if actual.size != expected.size:
        raise OnnxMismatchError(
            f"the ONNX copy answers {actual.size} values for scikit-learn's {expected.size}"
        )
    actual = actual.reshape(expected.shape)
    both_missing = np.isnan(expected) & np.isnan(actual)
    differences = np.where(both_missing, 0.0, np.abs(expected - actual) / scale)
    differences = np.where(np.isnan(differences), np.inf, differences)
    return float(differences.max()) if differences.size else 0.0
