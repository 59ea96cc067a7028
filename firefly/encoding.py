"""JSON encoding of arguments and results, NumPy, pandas and pydantic included.

orjson encodes dicts, lists, datetimes, dataclasses, enums and contiguous
NumPy arrays and scalars natively; :func:`default` handles what is left
(pydantic models, pandas objects, other array-likes) without importing NumPy,
pandas or pydantic, so serving a plain function never loads them. orjson
refuses integers beyond 64 bits: only a value holding one takes the slower
path through the standard library's :mod:`json`.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import uuid
from typing import Any

import orjson
from flask.json.provider import JSONProvider

OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

JSONDecodeError = orjson.JSONDecodeError

BIG_INTEGER_MESSAGE = "Integer exceeds 64-bit range"  # orjson's TypeError for such an int


def default(obj: Any) -> Any:
    """Turn a value orjson does not know into one it does, or raise TypeError."""
    serializer = getattr(type(obj), "__pydantic_serializer__", None)
    if serializer is not None:  # a pydantic model: what its model_dump(mode="json") gives
        return serializer.to_python(obj, mode="json")
    module = type(obj).__module__
    if module.startswith("pandas"):
        if hasattr(obj, "columns"):  # DataFrame: a list of records
            return obj.to_dict(orient="records")
        if hasattr(obj, "isoformat"):  # Timestamp
            return obj.isoformat()
    if hasattr(obj, "tolist"):  # Series, Index, NumPy arrays and scalars orjson skips
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` as compact UTF-8 JSON."""
    try:
        return orjson.dumps(obj, default=default, option=OPTIONS)
    except TypeError as error:
        if str(error) != BIG_INTEGER_MESSAGE:
            raise
    return _dumps_with_big_integers(obj)


def _dumps_with_big_integers(obj: Any) -> bytes:
    """The standard library's encoding, which takes integers of any size."""
    try:
        text = json.dumps(
            obj, default=_stdlib_default, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        )
    except ValueError as error:  # NaN, or an integer over sys.get_int_max_str_digits()
        raise TypeError(f"cannot encode as JSON: {error}") from None
    return text.encode()


def _stdlib_default(obj: Any) -> Any:
    """:func:`default`, plus what orjson encodes natively and :mod:`json` does not."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {field.name: getattr(obj, field.name) for field in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, uuid.UUID):
        return str(obj)
    return default(obj)


def loads(data: bytes | str) -> Any:
    """Decode JSON; raises :data:`JSONDecodeError` (a ValueError) when malformed."""
    return orjson.loads(data)


class FireflyJSONProvider(JSONProvider):
    """Flask's JSON provider for firefly's own routes, with the same encoding."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return dumps(obj).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)
