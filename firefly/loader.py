"""Import the functions named as ``MODULE.FUNCTION``."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Any

from .errors import LoadError


def split_function_name(spec: str) -> tuple[str, str]:
    """Split ``"pkg.module.func"`` into ``("pkg.module", "func")``."""
    module_name, _, attribute = spec.strip().rpartition(".")
    if not module_name or not attribute:
        raise LoadError(
            f"invalid function {spec!r}: write it as MODULE.FUNCTION, e.g. 'funcs.square'"
        )
    return module_name, attribute


def load_function(spec: str) -> Callable[..., Any]:
    """Import and return the callable named by ``spec`` (``MODULE.FUNCTION``)."""
    module_name, attribute = split_function_name(spec)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and (module_name + ".").startswith(err.name + "."):
            raise LoadError(
                f"cannot load {spec!r}: no module named {err.name!r}"
                " (is it in the current directory or installed?)"
            ) from None
        raise LoadError(f"cannot load {spec!r}: importing {module_name!r} failed: {err}") from err
    except Exception as err:
        raise LoadError(
            f"cannot load {spec!r}: importing {module_name!r} raised {type(err).__name__}: {err}"
        ) from err
    try:
        function = getattr(module, attribute)
    except AttributeError:
        raise LoadError(
            f"cannot load {spec!r}: module {module_name!r} has no attribute {attribute!r}"
            + _suggestion(attribute, dir(module))
        ) from None
    if not callable(function):
        raise LoadError(
            f"cannot load {spec!r}: {attribute!r} is not callable"
            f" (it is of type {type(function).__name__!r})"
        )
    return function


def _suggestion(name: str, candidates: list[str]) -> str:
    public = [c for c in candidates if not c.startswith("_")]
    matches = difflib.get_close_matches(name, public, n=1)
    return f"; did you mean {matches[0]!r}?" if matches else ""
