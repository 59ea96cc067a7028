"""Per-function options, declared once: read by the config file, ``@app.function`` and FunctionSpec.

Each option is a field of :class:`FunctionOptions` with a default, a parser
and a doc line. An option left unset (``None``) follows the app-wide setting
of the same meaning, when there is one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .parsers import parse_arguments, parse_bool, parse_from


def option(parse: Callable[[Any], Any], doc: str) -> Any:
    """Declare an option: unset by default, with its parser and doc line."""
    return field(default=None, metadata={"parse": parse, "doc": doc})


@dataclass(frozen=True)
class FunctionOptions:
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

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in their declared order."""
        return tuple(option_field.name for option_field in dataclasses.fields(cls))

    @classmethod
    def parse(cls, values: Mapping[str, Any], where: str) -> FunctionOptions:
        """Options from ``values`` by name, each checked by its parser; ``None`` leaves it unset.

        :param where: what the values belong to, for error messages (``functions.square``).
        :raises ConfigError: an unknown option, or a value its parser refuses.
        """
        known = cls.names()
        for name in values:
            if name not in known:
                raise ConfigError(f"{where}: unknown option {name!r} (known: {', '.join(known)})")
        parsed = {}
        for option_field in dataclasses.fields(cls):
            value = values.get(option_field.name)
            if value is None:
                continue
            parse = option_field.metadata["parse"]
            parsed[option_field.name] = parse_from(parse, value, f"{where}.{option_field.name}")
        return cls(**parsed)
