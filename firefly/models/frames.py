"""JSON records in, JSON results out: the DataFrame a model expects, built from a request body.

A body is one of:

- an array of records, ``[{"age": 22, "sex": "male"}, ...]``: a list of results;
- one record, ``{"age": 22, "sex": "male"}``: one bare result;
- ``{"columns": ["age", "sex"], "data": [[22, "male"], ...]}``: a list of results.

The DataFrame has the model's features as columns, in their order, each cast
to the dtype recorded at training when there is one. Problems are 422 errors
naming the row and the column; more rows than ``max_rows`` is 413.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import BadRequestError, PayloadTooLargeError, ValidationError
from ..protocol import MAX_LISTED_ERRORS

#: The JSON types each kind of column accepts (besides null, always a missing value).
NUMBER_TYPES = frozenset({int, float})
SCALAR_TYPES = frozenset({int, float, str, bool})
NONE = type(None)
SPLIT_KEYS = frozenset({"columns", "data"})


@dataclass(frozen=True)
class Rows:
    """The records of one request, column by column."""

    columns: Mapping[str, Sequence[Any]]
    count: int
    #: Whether the body was one record, answered with one bare result.
    single: bool


class FrameSchema:
    """The features of one model version, and how records become its DataFrame.

    :param features: the feature names in order, each with its dtype (``float64``,
        ``int64``, ``object``, ``bool``, ``category``, ``datetime64[ns]``) or None
        to let pandas infer it.
    :param forbid_extra: refuse (422) keys of a record that are no feature.
    :param max_rows: most records in one request (413 beyond); None for no limit.
    """

    def __init__(
        self,
        features: Mapping[str, str | None],
        forbid_extra: bool = False,
        max_rows: int | None = None,
    ):
        self.names = tuple(features)
        self.dtypes = {name: _column_kind(dtype) for name, dtype in features.items()}
        self.features = dict(features)
        self.required = frozenset(self.names)
        self.forbid_extra = forbid_extra
        self.max_rows = max_rows
        #: Every feature a float64: the frame is one 2-D block, as scikit-learn converts it.
        self.all_float = bool(self.names) and all(
            dtype == "float64" for dtype in self.features.values()
        )

    def frame(self, payload: Any) -> tuple[pd.DataFrame, bool]:
        """The DataFrame of a decoded JSON body, and whether it was a single record."""
        rows = self.rows(payload)
        arrays = {}
        errors: list[dict[str, Any]] = []
        for name in self.names:
            array = self._column(name, rows.columns[name], errors)
            if array is not None:
                arrays[name] = array
            elif not errors:  # never a column left out in silence
                message = f"cannot be read as {self.features[name]}"
                errors.append({"row": 0, "column": name, "message": message})
        if errors:
            raise _type_error(errors, rows.single)
        if self.all_float:  # one block, laid out as pandas keeps one: no copy, no consolidation
            block = np.vstack(list(arrays.values())).T
            return pd.DataFrame(block, columns=list(self.names), copy=False), rows.single
        return pd.DataFrame(arrays), rows.single  # its keys are self.names, in order

    def rows(self, payload: Any) -> Rows:
        """The records of ``payload`` by column, with their keys checked."""
        if isinstance(payload, list):
            return self._records(payload, single=False)
        if isinstance(payload, dict):
            if payload.keys() == SPLIT_KEYS:
                return self._split(payload["columns"], payload["data"])
            return self._records([payload], single=True)
        raise BadRequestError(
            "request body must be a JSON object (one record), an array of records, or"
            f' {{"columns": [...], "data": [[...]]}}, got a JSON {_json_type(payload)}'
        )

    def _records(self, records: list[Any], single: bool) -> Rows:
        self._check_count(len(records))
        if not self.forbid_extra:  # the usual case first: every record an object with every key
            columns = self._complete_columns(records)
            if columns is not None:
                return Rows(columns, len(records), single)
        required, names = self.required, self.names
        missing: list[dict[str, Any]] = []
        extra: list[dict[str, Any]] = []
        for row, record in enumerate(records):
            if not isinstance(record, dict):
                raise ValidationError(
                    f"row {row}: expected a JSON object of features, got a JSON"
                    f" {_json_type(record)}",
                    row=row,
                )
            keys = record.keys()
            if not required <= keys:
                missing.append({"row": row, "missing": [n for n in names if n not in record]})
            if self.forbid_extra and not keys <= required:
                extra.append({"row": row, "extra": sorted(keys - required)})
        if missing:
            raise _keys_error("Missing keys", "missing", missing, single)
        if extra:
            raise _keys_error("Unknown keys", "extra", extra, single)
        columns = {name: [record[name] for record in records] for name in names}
        return Rows(columns, len(records), single)

    def _complete_columns(self, records: list[Any]) -> dict[str, list[Any]] | None:
        """The records by column, or None when one is no object or lacks a feature."""
        try:
            return {name: [record[name] for record in records] for name in self.names}
        except (KeyError, TypeError):  # the checks of _records say which record, and why
            return None

    def _split(self, columns: Any, data: Any) -> Rows:
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise ValidationError('"columns" must be an array of feature names')
        if not isinstance(data, list):
            raise ValidationError('"data" must be an array of rows, each an array of values')
        self._check_count(len(data))
        absent = [name for name in self.names if name not in columns]
        if absent:
            raise _keys_error("Missing keys", "missing", [{"row": None, "missing": absent}], True)
        unknown = sorted(set(columns) - self.required)
        if self.forbid_extra and unknown:
            raise _keys_error("Unknown keys", "extra", [{"row": None, "extra": unknown}], True)
        width = len(columns)
        for row, values in enumerate(data):
            if not isinstance(values, list) or len(values) != width:
                raise ValidationError(
                    f'row {row} of "data": expected an array of {width} values, one per column,'
                    f" got {_describe(values)}",
                    row=row,
                )
        position = {name: index for index, name in enumerate(columns)}
        by_column = {name: [values[position[name]] for values in data] for name in self.names}
        return Rows(by_column, len(data), single=False)

    def _check_count(self, count: int) -> None:
        if self.max_rows is not None and count > self.max_rows:
            raise PayloadTooLargeError(
                f"{count:,} rows is more than the limit of {self.max_rows:,} rows per request"
                " (max_rows)",
                rows=count,
                max_rows=self.max_rows,
            )

    def _column(
        self, name: str, values: Sequence[Any], errors: list[dict[str, Any]]
    ) -> np.ndarray | pd.Series | None:
        kind = self.dtypes[name]
        dtype = self.features[name]
        types = set(map(type, values))
        accepted = NUMBER_TYPES if kind == "number" else SCALAR_TYPES
        if not types <= accepted | {NONE} or (kind == "number" and bool in types):
            _note_bad_values(name, values, kind, errors)
            return None
        if kind == "number":
            if NONE in types or (float in types and dtype and not dtype.startswith("float")):
                return np.array([math.nan if v is None else v for v in values], dtype="float64")
            return np.array(values, dtype=dtype)
        if kind == "bool" and NONE not in types and types <= {bool}:
            return np.array(values, dtype=bool)
        if kind == "datetime":
            try:
                return pd.to_datetime(pd.Series(values), format="ISO8601")
            except (ValueError, TypeError):
                _note_bad_dates(name, values, errors)
                return None
        if kind == "any":  # pandas infers the dtype, as from a CSV; null is NaN, as there
            series = pd.Series(values)
            return series.to_numpy() if NONE not in types else series.fillna(np.nan).to_numpy()
        array = np.array([math.nan if v is None else v for v in values], dtype=object)
        return array if kind != "category" else pd.Categorical(array)


def _column_kind(dtype: str | None) -> str:
    """What JSON a column of ``dtype`` takes: number, bool, datetime, category, object or any."""
    if dtype is None:
        return "any"
    if dtype.startswith(("int", "uint", "float", "Int", "UInt", "Float")):
        return "number"
    if dtype in ("bool", "boolean"):
        return "bool"
    if dtype.startswith("datetime64"):
        return "datetime"
    if dtype == "category":
        return "category"
    return "object"


def _note_bad_values(
    name: str, values: Sequence[Any], kind: str, errors: list[dict[str, Any]]
) -> None:
    expected = "a number" if kind == "number" else "a string, number or boolean"
    for row, value in enumerate(values):
        if value is None:
            continue
        if kind == "number":
            bad = type(value) not in NUMBER_TYPES
        else:
            bad = type(value) not in SCALAR_TYPES
        if bad and len(errors) < MAX_LISTED_ERRORS:
            errors.append(
                {
                    "row": row,
                    "column": name,
                    "message": f"expected {expected} or null, got {_describe(value)}",
                }
            )


def _note_bad_dates(name: str, values: Sequence[Any], errors: list[dict[str, Any]]) -> None:
    for row, value in enumerate(values):
        try:
            pd.to_datetime(value, format="ISO8601")
        except (ValueError, TypeError):
            if len(errors) < MAX_LISTED_ERRORS:
                message = f"expected a date and time such as '2026-01-31T12:00:00', got {value!r}"
                errors.append({"row": row, "column": name, "message": message})


def _type_error(errors: list[dict[str, Any]], single: bool) -> ValidationError:
    first = errors[0]
    where = (
        f"column {first['column']!r}"
        if single
        else f"row {first['row']}, column {first['column']!r}"
    )
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return ValidationError(f"{where}: {first['message']}{more}", errors=errors)


def _keys_error(
    title: str, key: str, problems: list[dict[str, Any]], single: bool
) -> ValidationError:
    """``Missing keys: 'a', 'b'``, with the row when the body had several records."""
    first = problems[0]
    message = f"{title}: " + ", ".join(repr(name) for name in first[key])
    if not single and first["row"] is not None:
        message += f" (row {first['row']}"
        message += f", and {len(problems) - 1} more rows)" if len(problems) > 1 else ")"
    listed = problems[:MAX_LISTED_ERRORS]
    details: dict[str, Any] = {key: first[key]}
    if not single:
        details["errors"] = listed
        if len(problems) > len(listed):
            details["more"] = len(problems) - len(listed)
    return ValidationError(message, **details)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _describe(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return f"a JSON {_json_type(value)}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def results(output: Any, method: str, classes: Sequence[Any] | None) -> list[Any]:
    """A model method's output as plain JSON values, one per row.

    ``predict_proba`` gives ``{class label: probability}`` per row; every other
    method a plain value (or a list of them) per row.
    """
    if hasattr(output, "toarray"):  # a sparse matrix, from transform
        output = output.toarray()
    if method == "predict_proba" and classes is not None:
        labels = [label_key(label) for label in classes]
        rows = np.asarray(output, dtype=float).tolist()
        return [dict(zip(labels, row, strict=True)) for row in rows]
    if hasattr(output, "tolist"):
        return output.tolist()
    if hasattr(output, "to_numpy"):
        return output.to_numpy().tolist()
    return list(output)


def label_key(label: Any) -> str:
    """A class label as a JSON object key: ``1`` for the integer 1, ``"yes"`` for the string."""
    if hasattr(label, "item"):
        label = label.item()
    return str(label).lower() if isinstance(label, bool) else str(label)
