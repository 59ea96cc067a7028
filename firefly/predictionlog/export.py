"""The rows of ``firefly log export`` as text: JSON lines, or CSV with JSON cells."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING

from ..encoding import dumps
from .queries import row_json
from .table import COLUMNS

if TYPE_CHECKING:
    from sqlalchemy.engine import RowMapping

#: The columns holding JSON, written in a CSV as compact JSON text.
JSON_COLUMNS = ("arguments", "result", "outcome")


def write_jsonl(stream: IO[str], rows: Iterable[RowMapping]) -> int:
    """One JSON object per row and line; how many rows were written."""
    written = 0
    for row in rows:
        stream.write(dumps(row_json(row)).decode())
        stream.write("\n")
        written += 1
    return written


def write_csv(stream: IO[str], rows: Iterable[RowMapping]) -> int:
    """A header of the columns, then one line per row; how many rows were written."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    written = 0
    for row in rows:
        record = row_json(row)
        writer.writerow(
            ""
            if record[name] is None
            else dumps(record[name]).decode()
            if name in JSON_COLUMNS
            else record[name]
            for name in COLUMNS
        )
        written += 1
    return written
