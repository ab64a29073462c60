"""the durable inbox: a delivery keeps its typed event until its effect is recorded; a
session remembers the delivery that started it

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("webhook_deliveries", sa.Column("payload", sa.JSON(), nullable=True))
    op.add_column("webhook_deliveries", sa.Column("done_at", sa.DateTime(timezone=True),
                                                  nullable=True))
    # Deliveries recorded before this revision took effect under the old rules.
    op.execute("UPDATE webhook_deliveries SET done_at = received_at")
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("delivery_id", sa.String(length=80), nullable=True))
        batch.create_unique_constraint("uq_sessions_delivery", ["delivery_id"])


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_constraint("uq_sessions_delivery", type_="unique")
        batch.drop_column("delivery_id")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("done_at")
        batch.drop_column("payload")
