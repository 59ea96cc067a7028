"""The database of the prediction log: an engine per URL, and the table ready on start.

SQLite is made fit for several worker processes writing at once: WAL (readers
never wait for the writer), a busy timeout (a writer waits for another instead
of failing with "database is locked") and write transactions that take the
write lock when they begin (``BEGIN IMMEDIATE``), so that one never fails by
upgrading a read lock another writer has moved past. PostgreSQL URLs without
a driver use psycopg 3 (``pip install firefly-python[postgres]``).

:func:`prepare` brings the table to the newest schema with Alembic, under a
lock, so that workers starting together do it once.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from ..encoding import loads
from ..errors import ConfigError
from .table import json_text

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

#: Milliseconds a SQLite connection waits for another writer before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: The execution option that makes a SQLite transaction begin with the write lock.
WRITE = {"firefly_write": True}
#: The key of the PostgreSQL advisory lock that serializes migrations.
MIGRATION_LOCK = zlib.crc32(b"firefly.predictionlog") & 0x7FFFFFFF
MIGRATIONS = Path(__file__).with_name("migrations")
#: Where Alembic records the revision of the prediction log's schema.
VERSION_TABLE = "firefly_alembic_version"


def database_url(url: str) -> URL:
    """``url`` as SQLAlchemy reads it, a driverless ``postgresql://`` on psycopg 3.

    :raises ConfigError: not a URL SQLAlchemy can read.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"prediction log: {url!r} is not a database URL") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def connect(url: str) -> Engine:
    """An engine for ``url``; no connection is made until it is used.

    :raises ConfigError: a URL no installed driver serves (one line saying what to install).
    """
    parsed = database_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed)
        return sqlalchemy.create_engine(
            parsed, pool_pre_ping=True, json_serializer=json_text, json_deserializer=loads
        )
    except (NoSuchModuleError, ModuleNotFoundError) as err:
        extra = " (pip install firefly-python[postgres])" if "postgres" in parsed.drivername else ""
        raise ConfigError(
            f"prediction log: no driver for {parsed.drivername}{extra}: {err}"
        ) from None


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sqlalchemy.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def tune(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below, not by pysqlite
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint, safe with WAL
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("firefly_write")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def prepare(engine: Engine) -> None:
    """Create the table, or migrate it to the newest schema; once, however many workers start.

    Alembic runs the migrations in ``migrations/versions`` from the revision the
    database records (in ``firefly_alembic_version``) to the newest.
    """
    from alembic import command

    quiet_alembic()
    with engine.connect().execution_options(**WRITE) as connection, connection.begin():
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def revision(engine: Engine) -> str | None:
    """The migration revision the database records; None before the table is created."""
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def quiet_alembic() -> None:
    """Keep Alembic's INFO lines (its plugins, each migration's context) out of firefly's log,
    unless its logger was configured."""
    alembic_logger = logging.getLogger("alembic")
    if alembic_logger.level == logging.NOTSET:
        alembic_logger.setLevel(logging.WARNING)


def alembic_config() -> AlembicConfig:
    """The Alembic configuration of the prediction log's migrations (``firefly log upgrade``)."""
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config
