"""The one configuration object: declared once, validated, immutable.

Each setting is a field of :class:`Config` with a default, a parser, an
environment variable and a doc line. :func:`load_config` merges the sources
with one precedence: command-line flag > environment variable > config file >
default. Errors name where the bad value came from (``functions.square.path``).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import ConfigError, LoadError
from .loader import split_function_name

DEFAULT_BIND = "127.0.0.1:8000"
CONFIG_ENV = "FIREFLY_CONFIG"
FUNCTIONS_ENV = "FIREFLY_FUNCTIONS"
SUPPORTED_VERSIONS = ("1", "1.0")


def parse_text(value: Any) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value.strip()


def parse_positive_int(value: Any) -> int:
    """An integer of at least 1 (also from its decimal string)."""
    return _parse_int(value, minimum=1, expected="a positive integer")


def parse_non_negative_int(value: Any) -> int:
    """An integer of at least 0 (also from its decimal string)."""
    return _parse_int(value, minimum=0, expected="an integer of 0 or more")


def _parse_int(value: Any, minimum: int, expected: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected {expected}, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected {expected}, got {value!r}") from None
    if number < minimum or (isinstance(value, float) and number != value):
        raise ValueError(f"expected {expected}, got {value!r}")
    return number


def parse_bool(value: Any) -> bool:
    """true/false, yes/no, on/off or 1/0."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def parse_seconds(value: Any) -> float:
    """A duration in seconds, 0 or more (also from its decimal string)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number of seconds, got {value!r}")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number of seconds, got {value!r}") from None
    if not 0 <= seconds < float("inf"):
        raise ValueError(f"expected a number of seconds, 0 or more, got {value!r}")
    return seconds


def parse_label(value: Any) -> str:
    """A string, or a YAML number such as ``1.0`` read as its text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value.strip()


def parse_destination(value: Any) -> str | None:
    """``-`` for stderr, a file path, or ``off`` (also false, none) for no log."""
    if value is None or value is False:
        return None
    if value is True:
        return "-"
    text = parse_text(value)
    return None if text.lower() in ("off", "false", "none", "no") else text


def choice(*choices: str) -> Callable[[Any], str]:
    """A parser accepting one of ``choices`` (case-insensitive)."""

    def parse_choice(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return text

    parse_choice.__doc__ = f"One of {', '.join(choices)}."
    return parse_choice


def parse_origins(value: Any) -> tuple[str, ...]:
    """Origins as a comma-separated string or a list; ``*`` allows any."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ValueError(f"expected origins as a comma-separated string or a list, got {value!r}")
    return tuple(item.strip().rstrip("/") for item in items if item.strip())


def parse_bind(value: Any) -> str:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) or ``unix:PATH``."""
    text = parse_text(value)
    if text.startswith("unix:"):
        return text
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT such as {DEFAULT_BIND!r}, got {value!r}")
    return text


def setting(
    default: Any, parse: Callable[[Any], Any], env: str, doc: str, metavar: str | None = None
) -> Any:
    """Declare a setting: a dataclass field carrying its parser, variable, doc line and metavar."""
    return field(
        default=default, metadata={"parse": parse, "env": env, "doc": doc, "metavar": metavar}
    )


@dataclass(frozen=True)
class FunctionConfig:
    """A function to serve: ``function`` (MODULE.FUNCTION) at ``path`` under ``name``."""

    name: str
    function: str
    path: str
    validate: bool | None = None  #: None: the app-wide ``validate`` setting decides
    warmup: dict[str, Any] | None = None  #: arguments of one call made before the app is ready


@dataclass(frozen=True)
class Config:
    """Everything firefly needs to build and serve an app."""

    functions: tuple[FunctionConfig, ...] = ()
    token: str | None = setting(
        None, parse_text, "FIREFLY_TOKEN", "Token every request must carry; none when unset."
    )
    allow_origins: tuple[str, ...] = setting(
        (),
        parse_origins,
        "FIREFLY_ALLOW_ORIGINS",
        "Origins allowed to call from a browser (CORS), comma-separated; ``*`` for any.",
    )
    max_content_length: int = setting(
        16 * 1024 * 1024,
        parse_positive_int,
        "FIREFLY_MAX_CONTENT_LENGTH",
        "Largest request body accepted, in bytes; larger ones get 413.",
    )
    bind: str = setting(
        DEFAULT_BIND, parse_bind, "FIREFLY_BIND", "Address the firefly command listens on."
    )
    workers: int = setting(
        1, parse_positive_int, "FIREFLY_WORKERS", "Worker processes of the firefly command."
    )
    threads: int = setting(
        1,
        parse_positive_int,
        "FIREFLY_THREADS",
        "Threads per worker; more than 1 uses gunicorn's gthread worker.",
    )
    timeout: int = setting(
        30,
        parse_positive_int,
        "FIREFLY_TIMEOUT",
        "Seconds a worker may spend on one request before it is restarted.",
    )
    reload: bool = setting(
        False, parse_bool, "FIREFLY_RELOAD", "Restart workers when the code changes (development)."
    )
    validate: bool = setting(
        True,
        parse_bool,
        "FIREFLY_VALIDATE",
        "Validate and coerce arguments against the functions' type hints (422 when they do not"
        " fit); per function: ``validate`` in the config file.",
    )
    title: str = setting("Firefly", parse_label, "FIREFLY_TITLE", "API title in OpenAPI and /docs.")
    description: str = setting(
        "", parse_label, "FIREFLY_DESCRIPTION", "API description in OpenAPI and /docs."
    )
    api_version: str = setting(
        "0.1.0", parse_label, "FIREFLY_API_VERSION", "API version in OpenAPI and health checks."
    )
    docs: bool = setting(
        True, parse_bool, "FIREFLY_DOCS", "Serve the OpenAPI document and the /docs page."
    )
    token_for_docs: bool = setting(
        False,
        parse_bool,
        "FIREFLY_TOKEN_FOR_DOCS",
        "Whether /docs and /openapi.json need the token (when one is set).",
    )
    token_for_health: bool = setting(
        False,
        parse_bool,
        "FIREFLY_TOKEN_FOR_HEALTH",
        "Whether /-/alive and /-/ready need the token (when one is set).",
    )
    metrics: bool = setting(
        True, parse_bool, "FIREFLY_METRICS", "Serve Prometheus metrics at /-/metrics."
    )
    token_for_metrics: bool = setting(
        True,
        parse_bool,
        "FIREFLY_TOKEN_FOR_METRICS",
        "Whether /-/metrics needs the token (when one is set).",
    )
    access_log: str | None = setting(
        "-",
        parse_destination,
        "FIREFLY_ACCESS_LOG",
        "Where the access log goes: ``-`` for stderr, a file path, or ``off``.",
        metavar="DESTINATION",
    )
    access_log_format: str = setting(
        "text",
        choice("text", "json"),
        "FIREFLY_ACCESS_LOG_FORMAT",
        "``text`` (one readable line per request) or ``json`` (JSON lines).",
    )
    access_log_max_bytes: int = setting(
        10 * 1024 * 1024,
        parse_non_negative_int,
        "FIREFLY_ACCESS_LOG_MAX_BYTES",
        "Size at which the access log file is rotated and the old one compressed; 0: never.",
        metavar="BYTES",
    )
    access_log_backups: int = setting(
        5,
        parse_non_negative_int,
        "FIREFLY_ACCESS_LOG_BACKUPS",
        "Rotated access log files kept.",
        metavar="N",
    )
    shutdown_delay: float = setting(
        0.0,
        parse_seconds,
        "FIREFLY_SHUTDOWN_DELAY",
        "Seconds a worker keeps serving after SIGTERM with /-/ready answering 503, so load"
        " balancers stop sending it requests.",
        metavar="SECONDS",
    )
    config_path: str | None = None


def settings() -> list[dataclasses.Field[Any]]:
    """The declared settings, in order: the fields of Config that have an env variable."""
    return [f for f in dataclasses.fields(Config) if "env" in f.metadata]


def load_config(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    path: str | None = None,
) -> Config:
    """Merge flags, environment and config file into a validated Config.

    ``flags`` holds only what was given on the command line (``functions``:
    a list of MODULE.FUNCTION, ``config``: a file path, and any setting by
    name). ``path`` is the config file when neither flag nor environment names one.
    """
    flags = {key: value for key, value in (flags or {}).items() if value is not None}
    environ = os.environ if environ is None else environ
    config_path = flags.get("config") or environ.get(CONFIG_ENV) or path
    file_values = read_config_file(config_path) if config_path else {}

    values: dict[str, Any] = {"config_path": config_path}
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
        values[name] = _parse(setting_field.metadata["parse"], raw, source)
    values["functions"] = _functions(flags, environ, file_values, config_path)
    return Config(**values)


def _parse(parse: Callable[[Any], Any], raw: Any, source: str) -> Any:
    try:
        return parse(raw)
    except ValueError as err:
        raise ConfigError(f"{source}: {err}") from None


def _functions(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    file_values: Mapping[str, Any],
    config_path: str | None,
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
    if in_file:
        return in_file
    raise ConfigError(
        "no functions to serve: name them as MODULE.FUNCTION (e.g. 'firefly funcs.square'),"
        f" in {FUNCTIONS_ENV}, or in a config file (-c config.yml)"
    )


def _function_from_name(spec: str) -> FunctionConfig:
    try:
        name = split_function_name(spec)[1]
    except LoadError as err:
        raise ConfigError(str(err)) from None
    return FunctionConfig(name=name, function=spec.strip(), path=f"/{name}")


# The config file: YAML, compatible with the original firefly format.

FILE_KEYS = ("version", "functions", *(setting_field.name for setting_field in settings()))
FUNCTION_KEYS = ("function", "path", "validate", "warmup")


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
        raise ConfigError(f"{path}: expected a mapping of settings, got {_kind(document)}")
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
            f"{path}: functions: expected a mapping of function names, got {_kind(section)}"
        )
    functions = []
    for name, entry in section.items():
        where = f"{path}: functions.{name}"
        if not isinstance(entry, dict):
            raise ConfigError(
                f"{where}: expected a mapping with 'function' and 'path', got {_kind(entry)}"
            )
        _reject_unknown_keys(entry, FUNCTION_KEYS, path, f"functions.{name}.")
        if "function" not in entry:
            raise ConfigError(f"{where}: missing 'function' (MODULE.FUNCTION)")
        function = _parse(parse_text, entry["function"], f"{where}.function")
        route = _parse(parse_text, entry.get("path", f"/{name}"), f"{where}.path")
        if not route.startswith("/"):
            raise ConfigError(f"{where}.path: must start with '/', got {route!r}")
        validate = (
            _parse(parse_bool, entry["validate"], f"{where}.validate")
            if "validate" in entry
            else None
        )
        warmup = entry.get("warmup")
        if warmup is not None and not isinstance(warmup, dict):
            raise ConfigError(
                f"{where}.warmup: expected a mapping of arguments to values, got {_kind(warmup)}"
            )
        functions.append(
            FunctionConfig(
                name=str(name), function=function, path=route, validate=validate, warmup=warmup
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


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"a {type(value).__name__} ({value!r})"


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())
