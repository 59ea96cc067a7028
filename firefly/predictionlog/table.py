"""The ``firefly_predictions`` table: one row per logged call, and its outcome once known.

The columns are declared here once; the first migration
(``migrations/versions/0001_predictions.py``) creates the same table, and
every later change to it is a new migration (docs/predictionlog.rst, "Upgrades").
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from ..encoding import dumps, loads

#: The table's name: prefixed, so that it can live in a database shared with other tables.
TABLE_NAME = "firefly_predictions"

metadata = MetaData()

#: A 64-bit integer key, which SQLite makes its rowid only when it is spelt INTEGER.
ROW_ID = BigInteger().with_variant(Integer, "sqlite")


def json_text(value: Any) -> str:
    """A logged value as JSON text: as firefly answers it (NumPy, pandas, pydantic), what JSON
    cannot hold (an uploaded file) as its repr."""
    try:
        return dumps(value).decode()
    except TypeError:
        return dumps(_representable(value)).decode()


def _representable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _representable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_representable(item) for item in value]
    try:
        dumps(value)
    except TypeError:
        return repr(value)
    return value


class JSONText(TypeDecorator[Any]):
    """JSON in a TEXT column, for SQLite.

    SQLite gives a column declared ``JSON`` numeric affinity, which stores the
    text ``110.0`` as the integer 110: a regression's float result would come
    back an int. A TEXT column keeps the JSON as it was written.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else json_text(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else loads(value)


#: A JSON value: JSON on PostgreSQL, JSON text on SQLite; SQL NULL for None.
LOGGED_JSON = JSON(none_as_null=True).with_variant(JSONText(), "sqlite")

predictions = Table(
    TABLE_NAME,
    metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("prediction_id", String(64), nullable=False, unique=True),
    Column("request_id", String(200)),
    Column("observation_id", String(200)),
    Column("function", String(200), nullable=False),
    Column("version", String(100)),
    Column("arguments", LOGGED_JSON),
    Column("result", LOGGED_JSON),
    Column("error", Text),
    Column("status", SmallInteger, nullable=False),
    Column("duration", Float, nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("outcome", LOGGED_JSON),
    Column("outcome_at", DateTime()),
    UniqueConstraint("function", "observation_id", name="uq_firefly_predictions_observation"),
    Index("ix_firefly_predictions_function_created", "function", "created_at"),
    Index("ix_firefly_predictions_created", "created_at"),
)

#: The columns as a reader sees them, in order (``GET /-/predictions``, export).
COLUMNS = tuple(column.name for column in predictions.columns)
