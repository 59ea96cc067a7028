"""SQL databases of the features that keep data (the prediction log, executions): engines and
migrations, the same for each.

:func:`connect_database` makes an engine for a SQLAlchemy URL. SQLite is made fit for
several worker processes writing at once: WAL (readers never wait for the
writer), a busy timeout (a writer waits for another instead of failing with
"database is locked") and write transactions that take the write lock when
they begin (``BEGIN IMMEDIATE``, asked for with :data:`WRITE`), so that one
never fails by upgrading a read lock another writer has moved past.
PostgreSQL URLs without a driver use psycopg 3 (``pip install
firefly-python[postgres]``).

:class:`Migrations` brings a feature's tables to the newest schema with
Alembic, under a lock, so that workers starting together do it once.
SQLAlchemy and Alembic are imported by the features that use this module,
never by ``import firefly``.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy
from sqlalchemy import JSON, BigInteger, Integer, Text, event
from sqlalchemy.engine import URL, Connection, Dialect, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.types import TypeDecorator

from .encoding import dumps, loads
from .errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

#: Milliseconds a SQLite connection waits for another writer before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: The execution option that makes a SQLite transaction begin with the write lock.
WRITE = {"firefly_write": True}


def database_url(url: str, what: str) -> URL:
    """``url`` as SQLAlchemy reads it, a driverless ``postgresql://`` on psycopg 3.

    :param what: whose database it is, for messages (``prediction log``).
    :raises ConfigError: not a URL SQLAlchemy can read.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"{what}: {url!r} is not a database URL") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def connect_database(url: str, what: str) -> Engine:
    """An engine for ``url``; no connection is made until it is used.

    :param what: whose database it is, for messages (``prediction log``).
    :raises ConfigError: a URL no installed driver serves (one line saying what to install).
    """
    parsed = database_url(url, what)
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed)
        return sqlalchemy.create_engine(
            parsed, pool_pre_ping=True, json_serializer=json_text, json_deserializer=loads
        )
    except (NoSuchModuleError, ModuleNotFoundError) as err:
        extra = " (pip install firefly-python[postgres])" if "postgres" in parsed.drivername else ""
        raise ConfigError(f"{what}: no driver for {parsed.drivername}{extra}: {err}") from None


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


def json_text(value: Any) -> str:
    """A stored value as JSON text: as firefly answers it (NumPy, pandas, pydantic), what JSON
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


#: A 64-bit integer key, which SQLite makes its rowid only when it is spelt INTEGER.
ROW_ID = BigInteger().with_variant(Integer, "sqlite")

#: A JSON value: JSON on PostgreSQL, JSON text on SQLite; SQL NULL for None.
JSON_VALUE = JSON(none_as_null=True).with_variant(JSONText(), "sqlite")


@dataclass(frozen=True)
class Migrations:
    """A feature's Alembic migrations: its ``env.py`` and ``versions/`` in ``directory``.

    :param version_table: where the database records the revision it is at.
    :param lock_name: names the PostgreSQL advisory lock that serializes upgrades.
    """

    directory: Path
    version_table: str
    lock_name: str

    def upgrade(self, engine: Engine) -> None:
        """Create the tables, or migrate them to the newest revision; once, however many
        workers start together."""
        from alembic import command

        quiet_alembic()
        with engine.connect().execution_options(**WRITE) as connection, connection.begin():
            if engine.dialect.name == "postgresql":
                lock = zlib.crc32(self.lock_name.encode()) & 0x7FFFFFFF
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({lock})")
            config = self.alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def revision(self, engine: Engine) -> str | None:
        """The revision the database records; None before the tables are created."""
        from alembic.migration import MigrationContext

        with engine.connect() as connection:
            options = {"version_table": self.version_table}
            return MigrationContext.configure(connection, opts=options).get_current_revision()

    def alembic_config(self) -> AlembicConfig:
        """The Alembic configuration of these migrations, for their ``env.py``."""
        from alembic.config import Config as AlembicConfig

        config = AlembicConfig()
        config.set_main_option("script_location", str(self.directory))
        config.attributes["version_table"] = self.version_table
        return config


def quiet_alembic() -> None:
    """Keep Alembic's INFO lines (its plugins, each migration's context) out of firefly's log,
    unless its logger was configured."""
    alembic_logger = logging.getLogger("alembic")
    if alembic_logger.level == logging.NOTSET:
        alembic_logger.setLevel(logging.WARNING)
