"""Alembic's environment for the prediction log: runs on the connection :func:`prepare` opens."""

from alembic import context

from firefly.predictionlog.database import VERSION_TABLE
from firefly.predictionlog.table import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
