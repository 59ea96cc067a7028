"""Per-function and per-model options, declared once.

:class:`FunctionOptions` are read by the config file, ``@app.function`` and
FunctionSpec; :class:`ModelOptions` by the config file and each model
version's ``model.yml``. Each option is a field with a default, a parser and
a doc line. An option left unset (``None``) follows the app-wide setting of
the same meaning, when there is one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .parsers import (
    choice,
    parse_arguments,
    parse_bool,
    parse_dotted_name,
    parse_features,
    parse_from,
    parse_mapping,
    parse_names,
    parse_positive_int,
    parse_seconds,
    parse_text,
)

if TYPE_CHECKING:
    from typing_extensions import Self


def option(parse: Callable[[Any], Any], doc: str) -> Any:
    """Declare an option: unset by default, with its parser and doc line."""
    return field(default=None, metadata={"parse": parse, "doc": doc})


class Options:
    """Options declared as dataclass fields with :func:`option`: their names and their parsing."""

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in their declared order."""
        return tuple(option_field.name for option_field in dataclasses.fields(cls))  # type: ignore[arg-type]

    @classmethod
    def parse(cls, values: Mapping[str, Any], where: str) -> Self:
        """Options from ``values`` by name, each checked by its parser; ``None`` leaves it unset.

        :param where: what the values belong to, for error messages (``functions.square``).
        :raises ConfigError: an unknown option, or a value its parser refuses.
        """
        known = cls.names()
        for name in values:
            if name not in known:
                raise ConfigError(f"{where}: unknown option {name!r} (known: {', '.join(known)})")
        parsed = {}
        for option_field in dataclasses.fields(cls):  # type: ignore[arg-type]
            value = values.get(option_field.name)
            if value is None:
                continue
            parse = option_field.metadata["parse"]
            parsed[option_field.name] = parse_from(parse, value, f"{where}.{option_field.name}")
        return cls(**parsed)

    def over(self, base: Self) -> Self:
        """These options, with those left unset taken from ``base``."""
        given = {
            option_field.name: getattr(self, option_field.name)
            for option_field in dataclasses.fields(self)  # type: ignore[arg-type]
            if getattr(self, option_field.name) is not None
        }
        return dataclasses.replace(base, **given)  # type: ignore[type-var]


@dataclass(frozen=True)
class FunctionOptions(Options):
    """How one function is served, besides its name and path."""

    validate: bool | None = option(
        parse_bool,
        "Check and coerce the arguments against the type hints (422 when they do not fit);"
        " unset: the app's ``validate`` setting.",
    )
    warmup: dict[str, Any] | None = option(  # noqa: RUF009 (a dataclasses.field)
        parse_arguments,
        "Keyword arguments of one call made before the worker reports ready.",
    )
    log: bool | None = option(
        parse_bool,
        "Log its calls to the prediction log; unset: logged when ``prediction_log`` is set.",
    )
    async_only: bool | None = option(
        parse_bool,
        "Run every call in the background (202 and an execution id), whatever the request asks.",
    )
    execution_timeout: float | None = option(
        parse_seconds,
        "Seconds an execution of it may run; unset: the app's ``execution_timeout``.",
    )
    observation_id: str | None = option(
        parse_text,
        "The argument holding the caller's id of what is predicted, logged as its observation"
        " id when no ``X-Observation-ID`` header is sent.",
    )


#: The methods a model may serve, in the order they are listed.
MODEL_METHODS = ("predict", "predict_proba", "decision_function", "transform")


def parse_methods(value: Any) -> tuple[str, ...]:
    """A list of model methods, each one firefly serves."""
    methods = parse_names(value)
    for method in methods:
        if method not in MODEL_METHODS:
            raise ValueError(f"unknown method {method!r} (known: {', '.join(MODEL_METHODS)})")
    return methods


@dataclass(frozen=True)
class ModelOptions(Options):
    """How one model version is served: from its ``model.yml``, over which the config file wins."""

    file: str | None = option(
        parse_text, "The model file to serve, when the version folder holds more than one."
    )
    methods: tuple[str, ...] | None = option(
        parse_methods,
        "Methods served, among " + ", ".join(MODEL_METHODS) + "; unset: those the model has.",
    )
    features: dict[str, str | None] | None = option(  # noqa: RUF009 (a dataclasses.field)
        parse_features,
        "The input columns in order, as a mapping of name to dtype (or a list of names);"
        " unset: the model's ``feature_names_in_``.",
    )
    extra: str | None = option(
        choice("ignore", "forbid"),
        "What to do with keys of a record that are no feature: ``ignore`` (the default) or"
        " ``forbid`` (422).",
    )
    max_rows: int | None = option(
        parse_positive_int, "Most records one request may carry; more get 413. Unset: no limit."
    )
    preprocess: str | None = option(
        parse_dotted_name, "MODULE.FUNCTION called with the DataFrame; returns the one to predict."
    )
    postprocess: str | None = option(
        parse_dotted_name,
        "MODULE.FUNCTION called with the list of results (one per record); returns the answer.",
    )
    trusted: tuple[str, ...] | None = option(
        parse_names, "Types a ``.skops`` file may hold beyond skops' own safe ones."
    )
    meta: dict[str, Any] | None = option(  # noqa: RUF009 (a dataclasses.field)
        parse_mapping, "Free-form description shown by ``GET /<name>/<version>``."
    )
    log: bool | None = option(
        parse_bool,
        "Log its calls to the prediction log; unset: logged when ``prediction_log`` is set.",
    )
