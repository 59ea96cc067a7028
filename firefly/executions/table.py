"""The ``firefly_executions`` table of the embedded backend: one row per execution.

The first migration (``migrations/versions/0001_executions.py``) creates the
same table; every later change to it is a new migration, run by each worker
on start (:class:`firefly.database.Migrations`).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ..database import JSON_VALUE, ROW_ID, Migrations

TABLE_NAME = "firefly_executions"
MIGRATIONS = Migrations(
    Path(__file__).with_name("migrations"),
    "firefly_executions_alembic_version",
    "firefly.executions",
)

metadata = MetaData()

executions = Table(
    TABLE_NAME,
    metadata,
    Column("seq", ROW_ID, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("function", String(200), nullable=False),
    Column("arguments", JSON_VALUE),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("timeout", Float, nullable=False),
    Column("idempotency_key", String(200)),
    Column("created_at", DateTime(), nullable=False),
    Column("started_at", DateTime()),
    Column("finished_at", DateTime()),
    Column("lease_until", DateTime()),
    Column("worker", String(200)),
    Column("result", JSON_VALUE),
    Column("error", Text),
    UniqueConstraint("function", "idempotency_key", name="uq_firefly_executions_idempotency"),
    Index("ix_firefly_executions_status", "status", "seq"),
    Index("ix_firefly_executions_finished", "finished_at"),
)
