"""child bundles: a job without a write credential sends its commit as a git bundle, kept
until Validate takes it in (DESIGN §6a)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "child_bundles",
        sa.Column("child_id", sa.String(length=32),
                  sa.ForeignKey("children.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("child_bundles")
