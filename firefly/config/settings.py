"""The settings of an app, declared once: each a field of :class:`Config`.

Each setting has a default, a parser (:mod:`firefly.config.parsers`), an
environment variable and a doc line; the command-line options, the config
file keys, the ``FIREFLY_*`` variables, ``Firefly(**settings)`` and the table
in docs/config.rst all come from these declarations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .options import FunctionOptions, ModelOptions
from .parsers import (
    DEFAULT_BIND,
    choice,
    parse_bind,
    parse_bool,
    parse_database_url,
    parse_destination,
    parse_fraction,
    parse_from,
    parse_label,
    parse_mapping,
    parse_non_negative_int,
    parse_origins,
    parse_positive_int,
    parse_seconds,
    parse_text,
)


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
    options: FunctionOptions = field(default_factory=FunctionOptions)


@dataclass(frozen=True)
class ModelConfig:
    """Models to serve from files.

    With no ``name``, ``path`` is a model repository: every ``<name>/<version>/``
    folder in it is served. With a ``name``, ``path`` is that model's folder of
    versions, or one model file served as ``version``.
    """

    path: str
    name: str | None = None
    #: The version one model file is served as.
    version: str = "1"
    #: The version ``POST /<name>/<method>`` uses; unset: the highest.
    default_version: str | None = None
    #: Options over those of each version's ``model.yml``.
    options: ModelOptions = field(default_factory=ModelOptions)


#: The keys of a model's entry in the config file, besides its options.
MODEL_KEYS = ("path", "version", "default_version")


def parse_models(value: Any) -> tuple[ModelConfig, ...]:
    """A model repository folder, or a mapping of model names to a path or to their settings."""
    if isinstance(value, str):
        return (ModelConfig(path=parse_text(value)),)
    if isinstance(value, (list, tuple)):
        return tuple(ModelConfig(path=parse_text(item)) for item in value)
    entries = parse_mapping(value)
    models = []
    for name, entry in entries.items():
        if isinstance(entry, str):
            entry = {"path": entry}
        if not isinstance(entry, dict) or "path" not in entry:
            raise ValueError(
                f"{name}: expected a path, or a mapping with 'path' (a model file or a folder"
                f" of versions), got {entry!r}"
            )
        keys = {key: entry[key] for key in MODEL_KEYS if key in entry}
        try:
            options = ModelOptions.parse(
                {key: item for key, item in entry.items() if key not in MODEL_KEYS}, name
            )
        except ConfigError as err:
            raise ValueError(str(err)) from None
        models.append(
            ModelConfig(
                path=parse_text(keys["path"]),
                name=name,
                version=parse_label(keys.get("version", "1")) or "1",
                default_version=parse_label(keys["default_version"])
                if "default_version" in keys
                else None,
                options=options,
            )
        )
    return tuple(models)


@dataclass(frozen=True)
class Config:
    """Everything firefly needs to build and serve an app."""

    functions: tuple[FunctionConfig, ...] = ()
    models: tuple[ModelConfig, ...] = setting(
        (),
        parse_models,
        "FIREFLY_MODELS",
        "Folder of models to serve: a ``<name>/<version>/`` folder for each version, holding"
        " its model file (see docs/models.rst).",
        metavar="DIR",
    )
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
    max_form_parts: int = setting(
        1000,
        parse_positive_int,
        "FIREFLY_MAX_FORM_PARTS",
        "Most parts a multipart/form-data body may have; more get 413.",
        metavar="N",
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
        "Threads per worker: calls one worker runs at the same time.",
    )
    timeout: int = setting(
        30,
        parse_positive_int,
        "FIREFLY_TIMEOUT",
        "Seconds a call may run; past it the caller gets 504 (see docs/cli.rst).",
    )
    server: str = setting(
        "gunicorn",
        choice("gunicorn", "granian"),
        "FIREFLY_SERVER",
        "Server of the firefly command: gunicorn, or granian"
        " (pip install firefly-python[granian]).",
        metavar="NAME",
    )
    read_timeout: float = setting(
        10.0,
        parse_seconds,
        "FIREFLY_READ_TIMEOUT",
        "Seconds a client may take to send a request's headers, and at most between two parts of"
        " its body; a slower one gets 408 and is disconnected.",
        metavar="SECONDS",
    )
    max_waiting: int = setting(
        64,
        parse_positive_int,
        "FIREFLY_MAX_WAITING",
        "Requests a worker holds waiting for a free thread; more get 503 with Retry-After.",
        metavar="N",
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
        "Whether the health checks (/-/alive, /-/ready, /v2/health/*) need the token (when one"
        " is set).",
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
    prediction_log: str | None = setting(
        None,
        parse_database_url,
        "FIREFLY_PREDICTION_LOG",
        "Log every call to this database (a SQLAlchemy URL such as ``sqlite:///predictions.db``);"
        " per function or model: ``log`` in the config file (see docs/predictionlog.rst).",
        metavar="URL",
    )
    prediction_log_sample: float = setting(
        1.0,
        parse_fraction,
        "FIREFLY_PREDICTION_LOG_SAMPLE",
        "Fraction of the calls of a logged function that are logged, above 0 and at most 1.",
        metavar="FRACTION",
    )
    prediction_log_queue: int = setting(
        10_000,
        parse_positive_int,
        "FIREFLY_PREDICTION_LOG_QUEUE",
        "Rows a worker holds waiting for the database; more are dropped and counted.",
        metavar="ROWS",
    )
    executions: str | None = setting(
        "sqlite:///executions.db",
        parse_database_url,
        "FIREFLY_EXECUTIONS",
        "Where asynchronous executions are kept: a database URL (run by the server's workers),"
        " a redis:// URL (run by 'firefly worker'), or ``off`` (see docs/executions.rst).",
        metavar="URL",
    )
    execution_threads: int = setting(
        4,
        parse_positive_int,
        "FIREFLY_EXECUTION_THREADS",
        "Executions each worker runs at once (the database backend).",
        metavar="N",
    )
    execution_queue: int = setting(
        10_000,
        parse_positive_int,
        "FIREFLY_EXECUTION_QUEUE",
        "Executions queued at most; more are refused with 503 and Retry-After.",
        metavar="N",
    )
    execution_timeout: float = setting(
        3600.0,
        parse_seconds,
        "FIREFLY_EXECUTION_TIMEOUT",
        "Seconds an execution may run before it fails as timed out; per function:"
        " ``execution_timeout`` in the config file.",
        metavar="SECONDS",
    )
    execution_retention: float = setting(
        86_400.0,
        parse_seconds,
        "FIREFLY_EXECUTION_RETENTION",
        "Seconds a finished execution stays readable before it is deleted.",
        metavar="SECONDS",
    )
    execution_lease: float = setting(
        30.0,
        parse_seconds,
        "FIREFLY_EXECUTION_LEASE",
        "Seconds after which a running execution whose worker stopped renewing it is found lost.",
        metavar="SECONDS",
    )
    execution_retries: int = setting(
        1,
        parse_non_negative_int,
        "FIREFLY_EXECUTION_RETRIES",
        "Times an execution whose worker was lost is run again before it fails as worker lost.",
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


def settings() -> list[dataclasses.Field[Any]]:
    """The declared settings, in order: the fields of Config that have an env variable."""
    return [f for f in dataclasses.fields(Config) if "env" in f.metadata]


def parse_setting(setting_field: dataclasses.Field[Any], raw: Any, source: str) -> Any:
    """``raw`` parsed by the setting's parser; raises ConfigError naming ``source`` if refused."""
    return parse_from(setting_field.metadata["parse"], raw, source)


def with_settings(config: Config, values: Mapping[str, Any], source: str) -> Config:
    """``config`` with ``values`` (settings by name) parsed as a config file's would be.

    ``None`` means "not given" and leaves a setting as it is in ``config``,
    except where its parser takes None as a value (``access_log=None``: off).

    :param source: who gave the values, for error messages (``Firefly()``).
    :raises TypeError: a name that is no setting.
    :raises ConfigError: a value the setting's parser refuses.
    """
    declared = {setting_field.name: setting_field for setting_field in settings()}
    unknown = sorted(values.keys() - declared.keys())
    if unknown:
        raise TypeError(f"{source} got an unknown setting {unknown[0]!r}")
    parsed = {}
    for name, value in values.items():
        if value is None and not _takes_none(declared[name]):
            continue
        parsed[name] = parse_setting(declared[name], value, f"{source}: {name}")
    return dataclasses.replace(config, **parsed)


def _takes_none(setting_field: dataclasses.Field[Any]) -> bool:
    try:
        setting_field.metadata["parse"](None)
    except ValueError:
        return False
    return True
