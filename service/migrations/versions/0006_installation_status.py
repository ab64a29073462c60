"""an installation's state: active, suspended or deleted (a refusal names which)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("installations", sa.Column("status", sa.String(length=16), nullable=False,
                                             server_default="active"))
    # Rows recorded before this revision knew only active or not.
    op.execute("UPDATE installations SET status = 'suspended' WHERE NOT active")


def downgrade() -> None:
    with op.batch_alter_table("installations") as batch:
        batch.drop_column("status")
