"""JSON encoding of arguments and results, NumPy and pandas included.

orjson encodes dicts, lists, datetimes, dataclasses and contiguous NumPy
arrays and scalars natively; :func:`default` handles what is left (pandas
objects, other array-likes) without importing NumPy or pandas, so serving a
plain function never loads them.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import JSONProvider

OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

JSONDecodeError = orjson.JSONDecodeError


def default(obj: Any) -> Any:
    """Turn a value orjson does not know into one it does, or raise TypeError."""
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
    return orjson.dumps(obj, default=default, option=OPTIONS)


def loads(data: bytes | str) -> Any:
    """Decode JSON; raises :data:`JSONDecodeError` (a ValueError) when malformed."""
    return orjson.loads(data)


class FireflyJSONProvider(JSONProvider):
    """Flask's JSON provider for firefly's own routes, with the same encoding."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return dumps(obj).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)
