"""The prediction log's database: an engine for its URL, and its table migrated on start.

:mod:`firefly.database` does the work; this module names the prediction
log's migrations (``migrations/``) and the table recording their revision.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from ..database import Migrations, connect_database

WHAT = "prediction log"
MIGRATIONS = Migrations(
    Path(__file__).with_name("migrations"), "firefly_alembic_version", "firefly.predictionlog"
)


def connect(url: str) -> Engine:
    """An engine for the log at ``url`` (:func:`firefly.database.connect_database`)."""
    return connect_database(url, WHAT)


def prepare(engine: Engine) -> None:
    """Create the table, or migrate it to this release's schema (each worker, on start)."""
    MIGRATIONS.upgrade(engine)


def revision(engine: Engine) -> str | None:
    """The revision of the table's schema the database records."""
    return MIGRATIONS.revision(engine)
