"""usage per child, the session's budget and when its run began

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name, kind in (("cost_usd", sa.Float()), ("input_tokens", sa.BigInteger()),
                       ("output_tokens", sa.BigInteger())):
        op.add_column("children", sa.Column(name, kind, nullable=False, server_default="0"))
    op.add_column("sessions", sa.Column("budget", sa.JSON(), nullable=True))
    op.add_column("sessions", sa.Column("spawned_at", sa.DateTime(timezone=True),
                                        nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("spawned_at")
        batch.drop_column("budget")
    with op.batch_alter_table("children") as batch:
        for name in ("output_tokens", "input_tokens", "cost_usd"):
            batch.drop_column(name)
