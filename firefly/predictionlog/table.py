"""The ``firefly_predictions`` table: one row per logged call, and its outcome once known.

The columns are declared here once; the first migration
(``migrations/versions/0001_predictions.py``) creates the same table, and
every later change to it is a new migration (docs/predictionlog.rst, "Upgrades").
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Index,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ..database import JSON_VALUE, ROW_ID

#: The table's name: prefixed, so that it can live in a database shared with other tables.
TABLE_NAME = "firefly_predictions"

metadata = MetaData()


predictions = Table(
    TABLE_NAME,
    metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("prediction_id", String(64), nullable=False, unique=True),
    Column("request_id", String(200)),
    Column("observation_id", String(200)),
    Column("function", String(200), nullable=False),
    Column("version", String(100)),
    Column("arguments", JSON_VALUE),
    Column("result", JSON_VALUE),
    Column("error", Text),
    Column("status", SmallInteger, nullable=False),
    Column("duration", Float, nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("outcome", JSON_VALUE),
    Column("outcome_at", DateTime()),
    UniqueConstraint("function", "observation_id", name="uq_firefly_predictions_observation"),
    Index("ix_firefly_predictions_created", "created_at"),
)

#: The columns as a reader sees them, in order (``GET /-/predictions``, export).
COLUMNS = tuple(column.name for column in predictions.columns)
