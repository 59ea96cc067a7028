"""ONNX models: scikit-learn estimators converted with skl2onnx, served on onnxruntime.

:func:`~firefly.models.onnxconvert.convert` writes the ONNX copy of a fitted estimator,
:func:`~firefly.models.onnxconvert.check` compares the copy's outputs with the
estimator's, and :class:`OnnxModel` serves an ``.onnx`` file as
an estimator, so that the model endpoints treat both alike. Both follow one convention:

- **One input per feature column**, named as the column, of shape ``[None, 1]``, in the
  order of ``feature_names_in_``: a ``ColumnTransformer`` selecting columns by name converts.
- **Numbers**, integers and booleans included, are ``float`` (float32) tensors:
  onnxruntime has no double imputer nor double trees with float outputs, skl2onnx
  refuses an imputer over integer and float columns together, and scikit-learn's trees
  compare in float32 too. Integers above 2**24 lose their last digits. Strings,
  ``object`` and ``category`` columns (of strings) are ``string`` tensors.
- **Missing strings** are sent as :data:`MISSING_STRING`, ``"nan"``: skl2onnx writes the
  missing category a ``OneHotEncoder`` learnt as ``"nan"``, and :func:`convert` makes a
  ``SimpleImputer`` fitted on strings look for it (skl2onnx imputes only strings equal to
  a string). So the string ``"nan"`` is missing too, as ``pandas.read_csv`` reads it.
- **Outputs**: a classifier's ``label`` (``[N]``) and ``probabilities`` (``[N, classes]``,
  a tensor: converted with ZipMap off); a regressor's or transformer's one ``variable``.
- **Metadata** (``metadata_props``): :data:`KIND_KEY` (``classifier``, ``regressor`` or
  ``transformer``), :data:`CLASSES_KEY` (the labels as a JSON list, in the order of the
  probabilities), :data:`METHODS_KEY` (a JSON list) and :data:`ESTIMATOR_KEY` (its class).

A file made elsewhere is served when its inputs follow the convention; without the
metadata, a model of two outputs is a classifier whose classes are read from its
classifier node (with the ``onnx`` package), and a ZipMap output gives no predict_proba.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError

#: The keys of firefly's metadata in a converted model (see the module's docstring).
KIND_KEY, CLASSES_KEY = "firefly.kind", "firefly.classes"
METHODS_KEY, ESTIMATOR_KEY = "firefly.methods", "firefly.estimator"
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
    "tensor(string)": "object",
}
REASON_LENGTH = 200  # of skl2onnx's reason in a conversion error, which can be a page


def require(module: str, purpose: str) -> Any:
    """The module ``module``, or a ConfigError saying what ``purpose`` needs installed."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"{purpose} needs {module}: {INSTALL_HINT}") from None


def input_dtype(name: str, dtype: Any) -> str:
    """``float32`` or ``object``: how a column of ``dtype`` goes to ONNX (else ConfigError)."""
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return "float32"
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        return "object"
    raise ConfigError(
        f"feature {name!r} is of dtype {str(dtype)!r}, which ONNX inputs cannot be:"
        " convert it to numbers or strings before training"
    )


class OnnxModel:
    """An ``.onnx`` file on onnxruntime, with the methods of a scikit-learn estimator.

    ``predict``, ``predict_proba`` and ``transform`` take a DataFrame holding the columns
    of ``feature_names_in_`` (the module's docstring gives the conventions); ``hasattr``
    is false for those the model lacks, and for ``classes_`` when it is no classifier.

    The session runs on the CPU with one thread (``threads``): a server runs a worker
    per core, and onnxruntime's default of a thread per core in every worker would
    oversubscribe them, while a request of a few rows gains nothing from more. With one
    thread the session starts no thread pool, so a model loaded before the server forks
    its workers runs in each of them. ``InferenceSession.run`` is thread-safe.

    :param source: the path of the ``.onnx`` file, or its bytes.
    :param threads: onnxruntime's intra-op threads.
    :raises ConfigError: no onnxruntime, or a file it cannot load or off the convention.
    """

    def __init__(self, source: str | os.PathLike[str] | bytes, *, threads: int = 1) -> None:
        ort = require("onnxruntime", "serving .onnx files")
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
                    f"{what}: input {node.name!r} is a {node.type} of shape {shape}; firefly serves"
                    " one input per feature column, of shape [None, 1], as convert() writes them"
                )
            self.feature_dtypes[node.name] = ONNX_DTYPES[node.type]
        self._names = list(self.feature_dtypes)
        self.feature_names_in_ = np.array(self._names, dtype=object)
        self.n_features_in_ = len(self._names)
        dtypes = set(self.feature_dtypes.values())
        # one dtype of numbers: a frame of just the features converts in one piece
        self._matrix_dtype = dtypes.pop() if len(dtypes) == 1 and "object" not in dtypes else None
        outputs = self.session.get_outputs()
        # without firefly's metadata, a model of two outputs (label, scores) is a classifier
        self.kind = self.metadata.get(KIND_KEY, "classifier" if len(outputs) > 1 else "regressor")
        if self.kind not in KINDS:
            raise ConfigError(f"{what}: unknown {KIND_KEY} {self.kind!r}; expected one of {KINDS}")
        names = [output.name for output in outputs]
        self._first = LABEL_OUTPUT if LABEL_OUTPUT in names else names[0]
        self._probabilities: str | None = None
        if self.kind == "classifier":
            probabilities = PROBABILITIES_OUTPUT if PROBABILITIES_OUTPUT in names else names[-1]
            methods = json.loads(self.metadata.get(METHODS_KEY, '["predict", "predict_proba"]'))
            tensor = outputs[names.index(probabilities)].type.startswith("tensor(")
            if probabilities != self._first and "predict_proba" in methods and tensor:
                self._probabilities = probabilities
        self._classes = _classes(self.metadata, source) if self.kind == "classifier" else None

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
        """The predictions; ValueError when a feature is missing, bad, or onnxruntime fails."""
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
        return functools.partial(self._run, self._probabilities)

    @property
    def transform(self) -> Callable[[pd.DataFrame], np.ndarray]:
        """The transformed rows, as a 2-d array (transformers only)."""
        if self.kind != "transformer":
            raise AttributeError(f"{self!r} is a {self.kind}: it has no transform")
        return functools.partial(self._run, self._first)

    def _run(self, output: str, frame: pd.DataFrame) -> Any:
        feeds = self._feeds(frame)
        try:
            return self.session.run([output], feeds)[0]
        except Exception as err:  # onnxruntime's errors share no base class
            raise ValueError(f"{self!r} failed on {len(frame)} rows: {err}") from err

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray | None:
        """The frame as one matrix when its columns are the features, all of one dtype; else
        None, and the inputs are made a column at a time, naming one that cannot be."""
        if self._matrix_dtype is None or list(frame.columns) != self._names:
            return None
        na_value = np.nan if self._matrix_dtype.startswith("float") else None
        try:
            return frame.to_numpy(dtype=self._matrix_dtype, na_value=na_value)
        except (TypeError, ValueError):
            return None

    def _feeds(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """The model's inputs: each feature column as an ``[N, 1]`` array of its dtype."""
        matrix = self._matrix(frame)
        if matrix is not None:  # ten times faster than a column at a time (a Series each)
            return dict(zip(self._names, np.ascontiguousarray(matrix.T)[:, :, None], strict=True))
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


def _classes(metadata: Mapping[str, str], source: str | os.PathLike[str] | bytes) -> Any:
    """The class labels from the metadata, else from the graph's classifier nodes."""
    if CLASSES_KEY in metadata:
        labels = json.loads(metadata[CLASSES_KEY])
        return np.array(labels, dtype=object if any(isinstance(x, str) for x in labels) else None)
    try:
        import onnx
    except ImportError:
        return None
    model = onnx.load_from_string(source) if isinstance(source, bytes) else onnx.load(source)
    for attribute in (attribute for node in model.graph.node for attribute in node.attribute):
        if attribute.name == "classlabels_strings":
            return np.array([label.decode() for label in attribute.strings], dtype=object)
        if attribute.name == "classlabels_int64s":
            return np.array(attribute.ints, dtype=np.int64)
    return None
