"""Parsers of setting values: each takes what a flag, variable, YAML key or keyword gave.

A parser returns the value in its one form, or raises ValueError with a
message that names the bad value; the caller adds where the value came from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ConfigError

DEFAULT_BIND = "127.0.0.1:8000"


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


def parse_fraction(value: Any) -> float:
    """A number above 0 and at most 1 (also from its decimal string)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a fraction above 0 and at most 1, got {value!r}")
    try:
        fraction = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a fraction above 0 and at most 1, got {value!r}") from None
    if not 0 < fraction <= 1:
        raise ValueError(f"expected a fraction above 0 and at most 1, got {value!r}")
    return fraction


def parse_database_url(value: Any) -> str | None:
    """A SQLAlchemy database URL (``sqlite:///predictions.db``), or ``off`` for none."""
    if value is None or value is False:
        return None
    text = parse_text(value)
    if text.lower() in ("off", "false", "none", "no"):
        return None
    scheme, separator, _rest = text.partition("://")
    if not separator or not scheme or not scheme.replace("+", "").replace("_", "").isalnum():
        raise ValueError(
            f"expected a database URL such as sqlite:///predictions.db or"
            f" postgresql+psycopg://user@host/db, got {value!r}"
        )
    return text


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


def parse_arguments(value: Any) -> dict[str, Any]:
    """A mapping of argument names to values (a function's keyword arguments)."""
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ValueError(f"expected a mapping of arguments to values, got {describe(value)}")
    return dict(value)


def parse_dotted_name(value: Any) -> str:
    """``MODULE.NAME`` (a function to import)."""
    text = parse_text(value)
    module, _, name = text.rpartition(".")
    if not module or not name:
        raise ValueError(f"expected MODULE.FUNCTION such as 'features.prepare', got {value!r}")
    return text


def parse_names(value: Any) -> tuple[str, ...]:
    """A list of non-empty strings (also one comma-separated string)."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(
        isinstance(item, str) and item.strip() for item in items
    ):
        raise ValueError(f"expected a list of names, got {describe(value)}")
    return tuple(item.strip() for item in items)


def parse_features(value: Any) -> dict[str, str | None]:
    """Features in order: a mapping of name to dtype (``float64``), or a list of names."""
    if isinstance(value, (list, tuple)):
        return dict.fromkeys(parse_names(value))
    if not isinstance(value, dict) or not value:
        raise ValueError(f"expected a mapping of feature names to dtypes, got {describe(value)}")
    features: dict[str, str | None] = {}
    for name, dtype in value.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"expected feature names as strings, got {name!r}")
        if dtype is not None and (not isinstance(dtype, str) or not dtype.strip()):
            raise ValueError(f"feature {name!r}: expected a dtype such as 'float64', got {dtype!r}")
        features[name] = dtype.strip() if dtype is not None else None
    return features


def parse_mapping(value: Any) -> dict[str, Any]:
    """A mapping with string keys."""
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ValueError(f"expected a mapping, got {describe(value)}")
    return dict(value)


def parse_from(parse: Callable[[Any], Any], raw: Any, source: str) -> Any:
    """``parse(raw)``; a refused value raises ConfigError naming ``source`` (a key path, a flag)."""
    try:
        return parse(raw)
    except ValueError as err:
        raise ConfigError(f"{source}: {err}") from None


def describe(value: Any) -> str:
    """What a config value is, for messages: ``a list ([1])``, or ``nothing``."""
    return "nothing" if value is None else f"a {type(value).__name__} ({value!r})"
