"""The config file: YAML, compatible with the original firefly format.

::

    version: 1.0
    token: "abcd1234"
    functions:
      square:
        path: "/square"
        function: "funcs.square"

Top-level keys are the settings of :class:`~firefly.config.settings.Config`;
a function's keys are ``function``, ``path`` and the options of
:class:`~firefly.config.options.FunctionOptions`. Unknown keys and wrong
types are reported with where they are (``functions.square.path``).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from ..errors import ConfigError
from .options import FunctionOptions
from .parsers import describe, parse_from, parse_text
from .settings import FunctionConfig, settings

SUPPORTED_VERSIONS = ("1", "1.0")
FILE_KEYS = ("version", "functions", *(setting_field.name for setting_field in settings()))
FUNCTION_KEYS = ("function", "path", *FunctionOptions.names())


def read_config_file(path: str) -> dict[str, Any]:
    """Read and check a YAML config file; returns its settings with ``functions`` parsed."""
    try:
        with open(path, encoding="utf-8") as file:
            document = yaml.safe_load(file)
    except FileNotFoundError:
        raise ConfigError(f"config file {path!r} does not exist") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {path!r}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {_one_line(err)}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {describe(document)}")
    _reject_unknown_keys(document, FILE_KEYS, path, "")
    if "version" in document and str(document["version"]) not in SUPPORTED_VERSIONS:
        raise ConfigError(f"{path}: version: unsupported version {document['version']!r}, use 1.0")
    values = {key: value for key, value in document.items() if key != "version"}
    if "functions" in document:
        values["functions"] = _file_functions(document["functions"], path)
    return values


def _file_functions(section: Any, path: str) -> tuple[FunctionConfig, ...]:
    if not isinstance(section, dict) or not section:
        raise ConfigError(
            f"{path}: functions: expected a mapping of function names, got {describe(section)}"
        )
    functions = []
    for name, entry in section.items():
        where = f"{path}: functions.{name}"
        if not isinstance(entry, dict):
            raise ConfigError(
                f"{where}: expected a mapping with 'function' and 'path', got {describe(entry)}"
            )
        _reject_unknown_keys(entry, FUNCTION_KEYS, path, f"functions.{name}.")
        if "function" not in entry:
            raise ConfigError(f"{where}: missing 'function' (MODULE.FUNCTION)")
        function = parse_from(parse_text, entry["function"], f"{where}.function")
        route = parse_from(parse_text, entry.get("path", f"/{name}"), f"{where}.path")
        if not route.startswith("/"):
            raise ConfigError(f"{where}.path: must start with '/', got {route!r}")
        options = {key: value for key, value in entry.items() if key not in ("function", "path")}
        functions.append(
            FunctionConfig(
                name=str(name),
                function=function,
                path=route,
                options=FunctionOptions.parse(options, where),
            )
        )
    return tuple(functions)


def _reject_unknown_keys(
    mapping: Mapping[Any, Any], known: Sequence[str], path: str, prefix: str
) -> None:
    for key in mapping:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
            raise ConfigError(f"{path}: {prefix}{key}: unknown key{hint}")


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())
