"""Tensors of the Open Inference Protocol (V2): datatypes, and tensor data as JSON or as bytes.

A tensor's data travels either as JSON, in its ``data`` (an array, flat or
nested, in row-major order), or, with the *binary tensor data extension*
(Triton's, which KServe adopted), as raw bytes after the JSON header of the
body, its size in the tensor's ``parameters.binary_data_size``. The bytes
are in row-major order without padding: numbers little-endian in their native
size, a BOOL one byte (0 or 1), and a BYTES element a 4-byte little-endian
unsigned length followed by that many bytes.

Inputs become flat lists of plain Python values (BYTES as ``str``: the
DataFrame's text columns), so that :class:`~firefly.models.frames.FrameSchema`
checks them as it checks JSON records; outputs are built from a model
method's plain JSON results.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import BadRequestError, ValidationError

#: The NumPy dtype of each fixed-size datatype, as its bytes are laid out.
FIXED_DATATYPES = {
    "BOOL": "?",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
BYTES = "BYTES"
DATATYPES = (*FIXED_DATATYPES, BYTES)
#: The length before each element of a BYTES tensor's binary data.
LENGTH = struct.Struct("<I")
_INTEGER_DTYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}


def datatype_for(dtype: str | None) -> str:
    """The datatype of a feature of pandas ``dtype``: its number type, BOOL, else BYTES.

    A feature with no recorded dtype (a model saved without ``firefly train``
    or a ``features`` list in ``model.yml``) is BYTES: it takes any datatype.
    """
    if dtype is None:
        return BYTES
    name = dtype.lower()
    if name in ("bool", "boolean"):
        return "BOOL"
    if name in _INTEGER_DTYPES:
        return name.upper()
    if name in ("float16", "float32", "float64"):
        return f"FP{name[5:]}"
    return BYTES


def check_shape(shape: Any, where: str) -> tuple[int, ...]:
    """``shape`` as a tuple of sizes: a JSON array of integers 0 or more, else a 400."""
    if not isinstance(shape, list) or not all(type(size) is int and size >= 0 for size in shape):
        raise BadRequestError(
            f'{where}: "shape" must be an array of sizes (integers 0 or more), got {shape!r}'
        )
    return tuple(shape)


def json_values(name: str, data: Any, shape: tuple[int, ...]) -> list[Any]:
    """The elements of an input's JSON ``data``, flat, checked against its shape."""
    if not isinstance(data, list):
        data = [data]
    values = list(_flatten(data)) if any(isinstance(item, list) for item in data) else data
    _check_count(name, len(values), shape)
    for value in values:
        if isinstance(value, dict):
            raise BadRequestError(f'input {name!r}: "data" holds a JSON object: send values')
    return values


def _flatten(items: list[Any]) -> Any:
    for item in items:
        if isinstance(item, list):
            yield from _flatten(item)
        else:
            yield item


def binary_values(name: str, datatype: str, raw: memoryview, shape: tuple[int, ...]) -> list[Any]:
    """The elements of an input's binary data, flat, checked against its shape."""
    if datatype == BYTES:
        values = [_text(name, index, item) for index, item in enumerate(decode_bytes(name, raw))]
        _check_count(name, len(values), shape)
        return values
    dtype = np.dtype(FIXED_DATATYPES[datatype])
    count = math.prod(shape)
    if len(raw) != count * dtype.itemsize:
        raise BadRequestError(
            f"input {name!r}: {len(raw)} bytes of binary data do not hold shape {list(shape)}"
            f" of {datatype} ({count} elements of {dtype.itemsize} bytes)"
        )
    return np.frombuffer(raw, dtype=dtype).tolist()


def decode_bytes(name: str, raw: memoryview) -> list[bytes]:
    """The elements of a BYTES tensor's binary data: each a length, then its bytes."""
    elements: list[bytes] = []
    offset, end = 0, len(raw)
    while offset < end:
        if offset + LENGTH.size > end:
            raise BadRequestError(f"input {name!r}: BYTES data ends inside an element's length")
        (length,) = LENGTH.unpack_from(raw, offset)
        offset += LENGTH.size
        if offset + length > end:
            raise BadRequestError(
                f"input {name!r}: BYTES element {len(elements)} of {length} bytes ends past"
                " its binary data"
            )
        elements.append(bytes(raw[offset : offset + length]))
        offset += length
    return elements


def _text(name: str, index: int, value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(
            f"input {name!r}: element {index} is not UTF-8 text ({value[:20]!r})", input=name
        ) from None


def _check_count(name: str, count: int, shape: tuple[int, ...]) -> None:
    if count != math.prod(shape):
        raise BadRequestError(
            f"input {name!r}: shape {list(shape)} holds {math.prod(shape)} elements,"
            f" its data {count}"
        )


@dataclass
class OutputTensor:
    """An output: its shape, datatype and flat elements, encoded as JSON or as bytes."""

    name: str
    shape: list[int]
    datatype: str
    values: list[Any]
    parameters: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, rows: Sequence[Any]) -> OutputTensor:
        """The tensor of a method's results, one per row (a value, or a list of them).

        :raises ValueError: the results are not rectangular.
        """
        shape = [len(rows)]
        probe = rows[0] if rows else None
        while isinstance(probe, list):
            shape.append(len(probe))
            probe = probe[0] if probe else None
        values = list(_flatten(list(rows))) if len(shape) > 1 else list(rows)
        if len(values) != math.prod(shape) or any(isinstance(v, dict) for v in values):
            raise ValueError(f"the results of {name} are not one value or one row per row")
        found = datatype_of(values)
        if found == BYTES:
            values = [value if isinstance(value, str) else str(value) for value in values]
        return cls(name, shape, found or "FP64", values)

    def json(self) -> dict[str, Any]:
        """The output as the JSON response holds it, with its data."""
        tensor: dict[str, Any] = {"name": self.name, "shape": self.shape, "datatype": self.datatype}
        if self.parameters:
            tensor["parameters"] = self.parameters
        tensor["data"] = self.values
        return tensor

    def binary(self) -> tuple[dict[str, Any], bytes]:
        """The output as the JSON header holds it (``binary_data_size``), and its bytes."""
        if self.datatype == BYTES:
            data = b"".join(
                LENGTH.pack(len(encoded)) + encoded
                for encoded in (value.encode("utf-8") for value in self.values)
            )
        else:
            data = np.asarray(self.values, dtype=FIXED_DATATYPES[self.datatype]).tobytes()
        parameters = {**self.parameters, "binary_data_size": len(data)}
        tensor = {"name": self.name, "shape": self.shape, "datatype": self.datatype}
        return {**tensor, "parameters": parameters}, data


def datatype_of(values: Sequence[Any]) -> str | None:
    """The datatype of plain values: BOOL, INT64, FP64 or BYTES; None when there are none."""
    types = set(map(type, values))
    if not types:
        return None
    if types == {bool}:
        return "BOOL"
    if types == {int}:
        return "INT64"
    if types <= {int, float}:
        return "FP64"
    return BYTES


def plain(value: Any) -> Any:
    """A NumPy scalar (a class label) as the plain Python value it holds."""
    return value.item() if hasattr(value, "item") else value
