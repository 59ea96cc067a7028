"""Loading a model file by its kind: joblib, pickle, skops or ONNX.

Pickle and joblib files run code as they load: they are loaded only because
the operator named them (a repository or ``--model`` is that choice), and
must come from someone you trust. ``.skops`` files load only the types
skops knows to be safe plus those listed under ``trusted``; any other type
they hold is refused at start-up, by name. ``.onnx`` files run on
onnxruntime (``pip install firefly-python[onnx]``) and hold no code.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError


def load_model(path: Path, trusted: Sequence[str] = (), what: str = "") -> Any:
    """The model in ``path``, loaded by its suffix; raises ConfigError naming ``what`` and why.

    :param trusted: the types a ``.skops`` file may hold beyond skops' safe ones.
    :param what: the model and version, for error messages (``model 'churn' version 'v1'``).
    """
    what = what or f"model file {str(path)!r}"
    loader = LOADERS[path.suffix]
    try:
        return loader(path, trusted, what)
    except ConfigError:
        raise
    except ModuleNotFoundError as err:
        raise ConfigError(
            f"{what}: loading {path.name} needs {err.name}: {_install_hint(path)}"
        ) from None
    except Exception as err:
        raise ConfigError(
            f"{what}: cannot load {str(path)!r}: {type(err).__name__}: {err}"
        ) from None


def _load_joblib(path: Path, trusted: Sequence[str], what: str) -> Any:
    import joblib

    return joblib.load(path)


def _load_pickle(path: Path, trusted: Sequence[str], what: str) -> Any:
    with path.open("rb") as file:
        return pickle.load(file)  # the operator named the file: see the module docstring


def _load_skops(path: Path, trusted: Sequence[str], what: str) -> Any:
    import skops.io

    untrusted = [name for name in skops.io.get_untrusted_types(file=path) if name not in trusted]
    if untrusted:
        raise ConfigError(
            f"{what}: {path.name} holds types that are not trusted: {', '.join(untrusted)};"
            " if you trust this file, list them under 'trusted:' in its model.yml or the config"
        )
    return skops.io.load(path, trusted=list(trusted) or None)


def _load_onnx(path: Path, trusted: Sequence[str], what: str) -> Any:
    from .onnx import OnnxModel

    return OnnxModel(path)


LOADERS = {
    ".joblib": _load_joblib,
    ".pkl": _load_pickle,
    ".skops": _load_skops,
    ".onnx": _load_onnx,
}


def _install_hint(path: Path) -> str:
    extra = "onnx" if path.suffix == ".onnx" else "models"
    return f"pip install firefly-python[{extra}]"
