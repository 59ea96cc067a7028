"""A batch of rows inserted straight through the database driver, one ``executemany``.

SQLAlchemy's insert prepares each row's parameters through its types
(JSON, DateTime) before the driver sees them: per row that costs more than
the insert itself, and the writer's thread takes that time from the calls
being served. :class:`BatchInsert` builds each row's values itself (its JSON
with orjson, its time as the driver takes it) and inserts the batch in one
transaction: on SQLite :data:`ROWS_PER_STATEMENT` rows per ``INSERT ...
VALUES``, on PostgreSQL one ``COPY``. Few statements for many rows matter as
much as the rows' values: a driver lets go of the GIL for each statement it
runs, and under load every time it does the threads serving calls take it
and the writer waits to get it back. The
values stored are those SQLAlchemy would store, so the rows read back the
same (:mod:`~firefly.predictionlog.queries`).
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from ..database import json_text
from .table import TABLE_NAME

#: The columns a call fills, in the order of each row's tuple.
COLUMNS = (
    "prediction_id",
    "request_id",
    "observation_id",
    "function",
    "version",
    "arguments",
    "result",
    "error",
    "status",
    "duration",
    "created_at",
)
#: Rows in one INSERT: 5,500 parameters, well under SQLite's limit of 32,766.
ROWS_PER_STATEMENT = 500


class BatchInsert:
    """Inserts rows (dicts with :data:`COLUMNS`, ``created_at`` a ``time.time()``) into the
    predictions table of ``engine``.

    Raises SQLAlchemy's exceptions (:class:`~sqlalchemy.exc.OperationalError`,
    :class:`~sqlalchemy.exc.IntegrityError`, ...), as a SQLAlchemy insert would.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        dialect = engine.dialect
        self.sqlite = dialect.name == "sqlite"
        self.dbapi = dialect.loaded_dbapi
        self.row_values = "({})".format(", ".join("?" * len(COLUMNS)))
        self.prefix = f"INSERT INTO {TABLE_NAME} ({', '.join(COLUMNS)}) VALUES "
        self.copy = f"COPY {TABLE_NAME} ({', '.join(COLUMNS)}) FROM STDIN"
        self._statements: dict[int, str] = {}

    def statement(self, rows: int) -> str:
        """The INSERT of ``rows`` rows."""
        sql = self._statements.get(rows)
        if sql is None:
            sql = self._statements[rows] = self.prefix + ", ".join([self.row_values] * rows)
        return sql

    def __call__(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert ``rows`` in one transaction."""
        sql = self.copy
        try:
            connection = self.engine.raw_connection()
        except self.dbapi.Error as error:  # the driver's own, when it cannot connect
            raise DBAPIError.instance(None, None, error, self.dbapi.Error) from error
        try:
            cursor = connection.cursor()
            if self.sqlite:
                cursor.execute("BEGIN IMMEDIATE")  # the write lock now: see firefly.database
                parameters = [value for row in rows for value in self.parameters(row)]
                step = ROWS_PER_STATEMENT * len(COLUMNS)
                for start in range(0, len(parameters), step):
                    chunk = parameters[start : start + step]
                    sql = self.statement(len(chunk) // len(COLUMNS))
                    cursor.execute(sql, chunk)
            else:
                with cursor.copy(self.copy) as copy:  # psycopg 3
                    for row in rows:
                        copy.write_row(self.parameters(row))
            connection.commit()
        except self.dbapi.Error as error:
            connection.rollback()
            raise DBAPIError.instance(sql, None, error, self.dbapi.Error) from error
        finally:
            connection.close()

    def parameters(self, row: dict[str, Any]) -> tuple[Any, ...]:
        """The tuple of ``row``'s values, as the driver takes them."""
        arguments, result, created = row["arguments"], row["result"], row["created_at"]
        return (
            row["prediction_id"],
            row["request_id"],
            row["observation_id"],
            row["function"],
            row["version"],
            None if arguments is None else json_text(arguments),
            None if result is None else json_text(result),
            row["error"],
            row["status"],
            row["duration"],
            sqlite_time(created) if self.sqlite else utc(created),
        )


def utc(seconds: float) -> dt.datetime:
    """A ``time.time()`` as the table stores it: UTC, without a zone."""
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(tzinfo=None)


def sqlite_time(seconds: float) -> str:
    """A ``time.time()`` as SQLAlchemy stores a time in SQLite: ``2026-12-01 10:00:00.123456``."""
    whole = int(seconds)
    return f"{_second(whole)}.{int((seconds - whole) * 1_000_000):06d}"


@functools.lru_cache(maxsize=4)
def _second(whole: int) -> str:
    """The whole second's part of :func:`sqlite_time`: the rows of a batch share a few."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(whole))
