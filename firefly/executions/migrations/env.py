"""Alembic's environment for executions: runs on the connection
:meth:`firefly.database.Migrations.upgrade` opens."""

from alembic import context

from firefly.executions.table import metadata

config = context.config
context.configure(
    connection=config.attributes["connection"],
    target_metadata=metadata,
    version_table=config.attributes["version_table"],
)
with context.begin_transaction():
    context.run_migrations()
