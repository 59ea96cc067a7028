"""Where a Config comes from: flags, environment and config file, merged with one precedence.

command-line flag > environment variable > config file > default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError, LoadError
from ..loader import split_function_name
from .file import read_config_file
from .settings import Config, FunctionConfig, ModelConfig, parse_setting, settings

CONFIG_ENV = "FIREFLY_CONFIG"
FUNCTIONS_ENV = "FIREFLY_FUNCTIONS"


def load_config(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    path: str | None = None,
) -> Config:
    """Merge flags, environment and config file into a validated Config.

    ``flags`` holds only what was given on the command line (``functions``:
    a list of MODULE.FUNCTION, ``model``: a list of NAME=FILE, ``config``: a
    file path, and any setting by name). ``path`` is the config file when
    neither flag nor environment names one.
    """
    flags = {key: value for key, value in (flags or {}).items() if value is not None}
    environ = os.environ if environ is None else environ
    config_path = flags.get("config") or environ.get(CONFIG_ENV) or path
    file_values = read_config_file(config_path) if config_path else {}

    values: dict[str, Any] = {}
    for setting_field in settings():
        name, env = setting_field.name, setting_field.metadata["env"]
        if name in flags:
            raw, source = flags[name], f"option --{name.replace('_', '-')}"
        elif environ.get(env):
            raw, source = environ[env], f"environment variable {env}"
        elif name in file_values:
            raw, source = file_values[name], f"{config_path}: {name}"
        else:
            continue
        values[name] = parse_setting(setting_field, raw, source)
    values["models"] = values.get("models", ()) + tuple(
        _model_from_flag(flag) for flag in flags.get("model") or ()
    )
    values["functions"] = _functions(
        flags, environ, file_values, config_path, required=not values["models"]
    )
    return Config(**values)


def _model_from_flag(flag: str) -> ModelConfig:
    """``NAME=FILE``: one model file served as version 1 of model NAME."""
    name, sep, path = flag.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise ConfigError(
            f"option --model: expected NAME=FILE such as churn=churn.joblib, got {flag!r}"
        )
    return ModelConfig(path=path.strip(), name=name.strip())


def _functions(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    file_values: Mapping[str, Any],
    config_path: str | None,
    required: bool,
) -> tuple[FunctionConfig, ...]:
    named = list(flags.get("functions") or [])
    if not named and environ.get(FUNCTIONS_ENV):
        named = [name for name in environ[FUNCTIONS_ENV].split(",") if name.strip()]
    in_file = file_values.get("functions")
    if named and in_file:
        raise ConfigError(
            f"functions are named both on the command line or in {FUNCTIONS_ENV} and in"
            f" {config_path}: name them in one place"
        )
    if named:
        return tuple(_function_from_name(name) for name in named)
    if in_file or not required:
        return in_file or ()
    raise ConfigError(
        "no functions to serve: name them as MODULE.FUNCTION (e.g. 'firefly funcs.square'),"
        f" in {FUNCTIONS_ENV}, or in a config file (-c config.yml), or serve models with"
        " --models DIR or --model NAME=FILE"
    )


def _function_from_name(spec: str) -> FunctionConfig:
    try:
        name = split_function_name(spec)[1]
    except LoadError as err:
        raise ConfigError(str(err)) from None
    return FunctionConfig(name=name, function=spec.strip(), path=f"/{name}")
