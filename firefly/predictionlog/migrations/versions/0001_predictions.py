"""The firefly_predictions table.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from firefly.database import JSON_VALUE, ROW_ID
from firefly.predictionlog.table import TABLE_NAME

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the table as firefly 0.x first wrote it."""
    op.create_table(
        TABLE_NAME,
        sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("prediction_id", sa.String(64), nullable=False, unique=True),
        sa.Column("request_id", sa.String(200)),
        sa.Column("observation_id", sa.String(200)),
        sa.Column("function", sa.String(200), nullable=False),
        sa.Column("version", sa.String(100)),
        sa.Column("arguments", JSON_VALUE),
        sa.Column("result", JSON_VALUE),
        sa.Column("error", sa.Text),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("outcome", JSON_VALUE),
        sa.Column("outcome_at", sa.DateTime()),
        sa.UniqueConstraint(
            "function", "observation_id", name="uq_firefly_predictions_observation"
        ),
    )
    op.create_index("ix_firefly_predictions_created", TABLE_NAME, ["created_at"])


def downgrade() -> None:
    """Drop the table."""
    op.drop_table(TABLE_NAME)
