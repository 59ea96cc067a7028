"""The firefly_executions table.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from firefly.database import JSON_VALUE, ROW_ID
from firefly.executions.table import TABLE_NAME

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the table."""
    op.create_table(
        TABLE_NAME,
        sa.Column("seq", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("function", sa.String(200), nullable=False),
        sa.Column("arguments", JSON_VALUE),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("timeout", sa.Float, nullable=False),
        sa.Column("idempotency_key", sa.String(200)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime()),
        sa.Column("finished_at", sa.DateTime()),
        sa.Column("lease_until", sa.DateTime()),
        sa.Column("worker", sa.String(200)),
        sa.Column("result", JSON_VALUE),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint(
            "function", "idempotency_key", name="uq_firefly_executions_idempotency"
        ),
    )
    op.create_index("ix_firefly_executions_status", TABLE_NAME, ["status", "seq"])
    op.create_index("ix_firefly_executions_finished", TABLE_NAME, ["finished_at"])


def downgrade() -> None:
    """Drop the table."""
    op.drop_table(TABLE_NAME)
