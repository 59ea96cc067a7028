"""Alembic's environment for the prediction log: runs on the connection :func:`prepare` opens."""

from alembic import context

from firefly.predictionlog.table import metadata

VERSION_TABLE = "firefly_alembic_version"

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
