"""JSON encoding of arguments and results, NumPy, pandas and pydantic included.

orjson encodes dicts, lists, datetimes, dataclasses, enums and contiguous
NumPy arrays and scalars natively; :func:`default` handles what is left
(pydantic models, pandas objects, other array-likes) without importing NumPy,
pandas or pydantic, so serving a plain function never loads them.

orjson refuses to encode integers beyond 64 bits and decodes them as floats:
only a value or a document holding one takes the slower path through the
standard library's :mod:`json`, which keeps them exact up to Python's limit of
int conversion (:func:`sys.get_int_max_str_digits`, 4300 digits by default).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import math
import sys
import uuid
from typing import Any

import orjson
from flask.json.provider import JSONProvider

OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

JSONDecodeError = orjson.JSONDecodeError

BIG_INTEGER_MESSAGE = "Integer exceeds 64-bit range"  # orjson's TypeError for such an int
INFINITE_NUMBER_MESSAGE = "number is infinity"  # orjson's JSONDecodeError for 309 digits or more
# An integer beyond 64 bits has 19 digits or more (-2**63 - 1 has 19), so orjson misreads
# only a document holding such a run of digits; only those are decoded again.
LONG_DIGITS = 19
LONG_DIGIT_RUN = b"1" * LONG_DIGITS  # found in a document whose digits are made ones
DIGITS_AS_ONES = bytes.maketrans(b"0123456789", b"1" * 10)


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
        reason = _int_limit_message() if _is_int_limit(error) else str(error)
        raise TypeError(f"cannot encode as JSON: {reason}") from None
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
    """Decode JSON, integers of any size exactly.

    :raises JSONDecodeError: (a ValueError) the document is malformed.
    :raises ValueError: an integer has more digits than Python converts.
    """
    if len(data) < LONG_DIGITS:  # too short to hold an integer orjson misreads
        return orjson.loads(data)
    try:
        value = orjson.loads(data)
    except JSONDecodeError as error:
        if not str(error).startswith(INFINITE_NUMBER_MESSAGE) or not _holds_long_integer(data):
            raise
        return _loads_exact(data, error)
    return _loads_exact(data, None) if _holds_long_integer(data) else value


def _holds_long_integer(data: bytes | str) -> bool:
    """Whether ``data`` has a run of 19 digits or more, not the fraction of a float."""
    digits = (data.encode() if isinstance(data, str) else data).translate(DIGITS_AS_ONES)
    start = digits.find(LONG_DIGIT_RUN)
    while start > 0 and digits[start - 1] in b".1":  # after "." or inside such a run
        start = digits.find(LONG_DIGIT_RUN, start + LONG_DIGITS)
    return start >= 0


def _loads_exact(data: bytes | str, refusal: JSONDecodeError | None) -> Any:
    """The standard library's decoding, as strict as orjson's but for integers of any size.

    ``refusal`` is orjson's error, raised again unless an integer of many digits explains it.
    """
    try:
        return json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float)
    except ValueError as error:
        if _is_int_limit(error):
            raise ValueError(_int_limit_message()) from None
        raise refusal or error from None


def _finite_float(text: str) -> float:
    """A float as orjson reads one: out of a double's range is an error, not infinity."""
    number = float(text)
    if math.isinf(number):
        raise ValueError("infinite number")
    return number


def _refuse_constant(name: str) -> Any:
    """Refuse ``NaN`` and ``Infinity``, which the standard library takes and orjson does not."""
    raise ValueError(f"{name} is not JSON")


def _is_int_limit(error: ValueError) -> bool:
    """Whether ``error`` is Python's refusal to convert an integer of too many digits."""
    return "integer string conversion" in str(error)


def _int_limit_message() -> str:
    limit = sys.get_int_max_str_digits()
    return f"an integer has more than {limit} digits, the most Python converts (int_max_str_digits)"


class FireflyJSONProvider(JSONProvider):
    """Flask's JSON provider for firefly's own routes, with the same encoding."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return dumps(obj).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)
