"""The work of ``firefly train``: read a CSV, call a training function, write a model version.

:func:`train` calls the user's function with the CSV as a DataFrame; it returns
a fitted estimator, or ``(estimator, metrics)``. The version folder
``<models>/<model>/<version>/`` gets ``model.joblib``, ``model.yml``
(features, methods, meta, training) and, with ``onnx=True``, a checked
``model.onnx``. It is written as a hidden folder beside it (``.<version>.tmp-*``)
and renamed into place, so a server sees the whole version or none of it. No
click here: the CLI prints errors and reports through a :class:`Progress`.
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import importlib
import importlib.metadata
import io
import os
import platform
import re
import secrets
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..config.options import MODEL_METHODS
from ..errors import FireflyError
from ..loader import load_function
from ..version import __version__
from .repository import check_name, natural_key

if TYPE_CHECKING:
    import pandas  # type: ignore[import-untyped, unused-ignore]

#: The methods a model server serves, in this order, where the estimator has them.
METHODS = MODEL_METHODS
#: The file names written in a version folder.
MODEL_FILE, ONNX_FILE, MODEL_YML = "model.joblib", "model.onnx", "model.yml"
DEFAULT_ONNX_TOLERANCE = 1e-4
#: A model or version name: one path segment of a URL and of the repository folder.
NUMBERED = re.compile(r"(?P<prefix>.*?)(?P<number>[0-9]+)")
#: The libraries whose versions model.yml records, by distribution name.
LIBRARIES = ("scikit-learn", "pandas", "numpy", "joblib")
ONNX_LIBRARIES = ("skl2onnx", "onnx", "onnxruntime")
CHUNK_SIZE = 1 << 16  # below pandas' reads (256 KiB), so that each is reported as it happens


class TrainingError(FireflyError):
    """The data, the training function or what it returned cannot make a model version."""


class TrainingFunctionError(TrainingError):
    """The training function raised; the exception is the ``__cause__``."""


class Progress:
    """What :func:`train` reports, step by step; this base class reports nothing."""

    def start(self, step: str, total: int | None = None) -> None:
        """A step begins: ``total`` units of work, or an unknown amount."""

    def advance(self, amount: int) -> None:
        """``amount`` more units of the current step are done."""

    def done(self, summary: str) -> None:
        """The current step ended; ``summary`` says what it did."""


def next_version(model_folder: Path) -> str:
    """The version after the highest numbered one: ``v1, v2 -> v3``, ``1, 2 -> 3``, none: ``v1``.

    Hidden folders (versions being written) are left out.
    """
    folders = model_folder.iterdir() if model_folder.is_dir() else ()
    names = sorted((f.name for f in folders if f.is_dir()), key=natural_key)
    numbered = [m for name in names if (m := NUMBERED.fullmatch(name)) and name[0] != "."]
    if not numbered:
        return "v1"
    prefix, digits = numbered[-1]["prefix"], numbered[-1]["number"]
    return f"{prefix}{int(digits) + 1:0{len(digits)}d}"


def train(
    function_name: str,
    data_path: str,
    model: str,
    *,
    models: str | os.PathLike[str] = "models",
    version: str | None = None,
    onnx: bool = False,
    onnx_tolerance: float = DEFAULT_ONNX_TOLERANCE,
    progress: Progress | None = None,
) -> Path:
    """Train ``function_name`` on the CSV at ``data_path`` and write a new version of ``model``.

    :param function_name: ``MODULE.FUNCTION``; it takes a DataFrame and returns a fitted
        estimator, or ``(estimator, metrics)`` with a dict of metrics.
    :param models: the model repository folder.
    :param version: the version folder to write; by default the one after the highest.
    :param onnx: also write an ONNX copy, refused when it differs beyond ``onnx_tolerance``.
    :returns: the version folder written, e.g. ``models/churn/v3``.
    :raises FireflyError: with one line naming the problem; nothing is written then.
    """
    progress = progress or Progress()
    model_folder = Path(models) / check_name("model", model)
    version = check_name("version", version, model) if version else next_version(model_folder)
    folder = model_folder / version
    refuse_existing(folder)
    function = load_function(function_name)
    frame, sha256 = read_csv(data_path, progress)
    dtypes = {name: str(dtype) for name, dtype in frame.dtypes.items()}
    estimator, metrics = call(function_name, function, frame, progress)
    features = features_of(estimator, dtypes, data_path)
    onnx_bytes, onnx_check, methods = None, None, methods_of(estimator)
    if onnx:  # the copy is the file served: its methods, which may be fewer, are the model's
        inputs = frame[list(features)]
        onnx_bytes, onnx_check, methods = to_onnx(estimator, inputs, onnx_tolerance, progress)
    training = {
        "function": function_name,
        "data": data_path,
        "data_sha256": sha256,
        "rows": len(frame),
        "metrics": Flow(metrics),
        "trained_at": now(),
        "libraries": Flow(library_versions(onnx)),
        **({"onnx": Flow(onnx_check)} if onnx_check else {}),
    }
    description = {
        **({"file": ONNX_FILE} if onnx_bytes else {}),  # of the two files, the one to serve
        "features": features,
        "methods": FlowList(methods),
        "meta": Flow(),
        "training": training,
    }
    progress.start(f"writing {folder}")
    write_version(folder, estimator, onnx_bytes, dump_yaml(description))
    written = [MODEL_FILE, *([ONNX_FILE] if onnx_bytes else []), MODEL_YML]
    progress.done(f"wrote {folder}: {', '.join(written)}")
    return folder


def refuse_existing(folder: Path) -> None:
    """A version once written is never replaced: a server may be serving it."""
    if folder.exists():
        raise TrainingError(
            f"version folder {str(folder)!r} exists already: choose another --version,"
            " or leave it out for the next one"
        )


class _Reader(io.RawIOBase):
    """A binary file that hashes and reports the bytes pandas reads from it."""

    def __init__(self, file: io.BufferedReader, progress: Progress):
        self.file, self.progress, self.sha256 = file, progress, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self.file.readinto(buffer)
        if count:
            self.sha256.update(memoryview(buffer)[:count])
            self.progress.advance(count)
        return count or 0


def read_csv(path: str, progress: Progress) -> tuple[pandas.DataFrame, str]:
    """The CSV at ``path`` as a DataFrame, and its SHA-256: the file is read once for both."""
    pandas = required("pandas")

    try:
        file = open(path, "rb")
    except OSError as err:
        raise TrainingError(f"cannot read {path!r}: {err.strerror}") from err
    with file:
        progress.start(f"reading {path}", total=os.fstat(file.fileno()).st_size)
        reader = _Reader(file, progress)
        try:
            frame = pandas.read_csv(io.BufferedReader(reader, CHUNK_SIZE))
        except pandas.errors.EmptyDataError:
            raise TrainingError(f"{path!r} is empty: expected a CSV with a header line") from None
        except (ValueError, pandas.errors.ParserError) as err:  # UnicodeDecodeError included
            problem = " ".join(str(err).split())
            raise TrainingError(f"cannot read {path!r} as CSV: {problem}") from err
        while reader.read(CHUNK_SIZE):  # the rest, if pandas stopped early, for the checksum
            pass
    if frame.empty:
        raise TrainingError(f"{path!r} has no rows: expected a header line and data below it")
    rows = f"{len(frame)} row{'s' if len(frame) > 1 else ''}"
    progress.done(f"read {path}: {rows}, {len(frame.columns)} columns")
    return frame, reader.sha256.hexdigest()


def call(
    function_name: str, function: Callable[..., Any], frame: pandas.DataFrame, progress: Progress
) -> tuple[Any, dict[str, Any]]:
    """Call the training function with the frame: the estimator and metrics it returns."""
    progress.start(f"fitting {function_name}")
    started = time.perf_counter()
    try:
        result = function(frame)
    except Exception as err:
        message = " ".join(str(err).split())  # on one line, as every error of the command
        raise TrainingFunctionError(
            f"{function_name} raised {type(err).__name__}: {message}"
        ) from err
    seconds = time.perf_counter() - started
    estimator, metrics = checked_result(function_name, result)
    progress.done(f"fitted {function_name}: {type(estimator).__name__} in {seconds:.1f} s")
    return estimator, metrics


def checked_result(function_name: str, result: Any) -> tuple[Any, dict[str, Any]]:
    """``result`` as estimator and metrics, if it is ``estimator`` or ``(estimator, dict)``."""
    expected = "return a fitted estimator, or (estimator, metrics) with a dict of metrics"
    estimator: Any = result
    metrics: Mapping[Any, Any] = {}
    if isinstance(result, tuple):
        if len(result) != 2 or not isinstance(result[1], Mapping):
            shape = ", ".join(type(item).__name__ for item in result)
            raise TrainingError(f"{function_name} returned a tuple ({shape}): {expected}")
        estimator, metrics = result
    if not methods_of(estimator):
        raise TrainingError(
            f"{function_name} returned {type(estimator).__name__}, which has none of the"
            f" methods {', '.join(METHODS)}: {expected}"
        )
    check_fitted(function_name, estimator)
    return estimator, {str(key): plain(key, value) for key, value in metrics.items()}


def check_fitted(function_name: str, estimator: Any) -> None:
    try:
        from sklearn.utils.validation import check_is_fitted  # type: ignore[import-untyped, unused-ignore]
    except ImportError:  # not a scikit-learn estimator: feature_names_in_ is checked anyway
        return
    try:
        check_is_fitted(estimator)
    except TypeError:  # no fit method: not scikit-learn's to judge
        return
    except ValueError:  # NotFittedError
        name = type(estimator).__name__
        raise TrainingError(f"{function_name} returned an unfitted {name}: fit it first") from None


def plain(key: Any, value: Any) -> Any:
    """A metric as plain YAML: NumPy scalars become numbers; lists and dicts are kept."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ndarray":
        return [plain(key, item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): plain(key, v) for k, v in value.items()}
    raise TrainingError(
        f"metric {key!r} is {type(value).__name__}: metrics must be numbers, strings,"
        " or lists and dicts of them"
    )


def methods_of(estimator: Any) -> list[str]:
    """The methods of :data:`METHODS` that ``estimator`` has (a Pipeline hides missing ones)."""
    return [method for method in METHODS if callable(getattr(estimator, method, None))]


def features_of(estimator: Any, dtypes: Mapping[str, str], data_path: str) -> dict[str, str]:
    """The features the estimator expects, in its order, each with its dtype in the CSV."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        raise TrainingError(
            f"the {type(estimator).__name__} has no feature_names_in_: fit it on a DataFrame,"
            " not an array, so that the server can map JSON records onto its columns"
        )
    names = [str(name) for name in names]
    missing = [name for name in names if name not in dtypes]
    if missing:
        raise TrainingError(
            f"the model expects features that are not columns of {data_path!r}:"
            f" {', '.join(map(repr, missing))}; compute them in a Pipeline step, so that"
            " the server is sent the CSV's columns"
        )
    return {name: dtypes[name] for name in names}


def to_onnx(
    estimator: Any, frame: pandas.DataFrame, tolerance: float, progress: Progress
) -> tuple[bytes, dict[str, float], list[str]]:
    """The ONNX copy of ``estimator`` checked on ``frame``, the check, and the copy's methods."""
    progress.start("converting to ONNX")
    from . import onnx, onnxconvert  # they import skl2onnx and onnxruntime, and tell their absence

    onnx_bytes = onnxconvert.convert(estimator, frame)
    copy = onnx.OnnxModel(onnx_bytes)
    try:
        difference = onnxconvert.check(estimator, copy, frame, tolerance)
    except onnxconvert.OnnxMismatchError as err:
        raise onnxconvert.OnnxMismatchError(
            f"{err}; nothing was written (allow more with --onnx-tolerance, or leave out --onnx)"
        ) from None
    progress.done(
        f"converted to ONNX: outputs within {difference:.3g} of the model's"
        f" on {len(frame)} rows (tolerance {tolerance:g})"
    )
    check = {"max_difference": float(difference), "tolerance": float(tolerance)}
    return onnx_bytes, check, methods_of(copy)


def now() -> str:
    """The time in UTC, to the second: ``2026-12-02T01:23:45Z``."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def library_versions(onnx: bool = False) -> dict[str, str]:
    """The versions of Python and of the libraries that trained, saved (and converted) the model."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES + (ONNX_LIBRARIES if onnx else ()):  # those installed
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    versions["firefly"] = __version__
    return versions


class Flow(dict):
    """A mapping that model.yml writes on one line: ``{accuracy: 0.81}``."""


class FlowList(list):
    """A list that model.yml writes on one line: ``[predict, predict_proba]``."""


class _Dumper(yaml.SafeDumper):
    pass


MAP, SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


_Dumper.add_representer(Flow, lambda dumper, data: dumper.represent_mapping(MAP, data, True))
_Dumper.add_representer(FlowList, lambda dumper, data: dumper.represent_sequence(SEQ, data, True))


def dump_yaml(document: Mapping[str, Any]) -> str:
    """``document`` as YAML: in its order, blocks but for :class:`Flow` values."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)


def write_version(
    folder: Path, estimator: Any, onnx_bytes: bytes | None, model_yml_text: str
) -> None:
    """Write the version folder as a hidden folder beside it, then rename it into place."""
    temporary = folder.parent / f".{folder.name}.tmp-{secrets.token_hex(4)}"
    try:
        temporary.mkdir(parents=True)
        dump(estimator, temporary / MODEL_FILE)
        if onnx_bytes is not None:
            (temporary / ONNX_FILE).write_bytes(onnx_bytes)
        (temporary / MODEL_YML).write_text(model_yml_text, encoding="utf-8")
        os.rename(temporary, folder)
    except OSError as err:
        if err.errno in (errno.EEXIST, errno.ENOTEMPTY):  # written meanwhile by another run
            refuse_existing(folder)
        raise TrainingError(f"cannot write {str(folder)!r}: {err}") from err
    finally:
        shutil.rmtree(temporary, ignore_errors=True)  # nothing is left there after the rename


def dump(estimator: Any, path: Path) -> None:
    """``joblib.dump``; an estimator that cannot be pickled is a TrainingError."""
    joblib = required("joblib")

    try:
        joblib.dump(estimator, path)
    except OSError:
        raise
    except Exception as err:  # pickle raises PicklingError, TypeError, AttributeError, ...
        name = type(estimator).__name__
        message = f"cannot save the {name} with joblib: {type(err).__name__}: {err}"
        raise TrainingError(message) from err


def required(name: str) -> Any:
    """The module ``name``; if it is not installed, a TrainingError that says how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise TrainingError(f"firefly train needs {name}: pip install {name}") from None
