"""a counter of the session's component children not yet at rest

The child-result callback reads it in the same statement that records the result, instead
of a GROUP BY over the children after the commit (bench/callback_load.py).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("active_children", sa.Integer(), nullable=False,
                                        server_default="0"))
    op.execute("UPDATE sessions SET active_children = (SELECT count(*) FROM children "
               "WHERE children.session_id = sessions.id AND children.kind = 'component' "
               "AND children.status IN ('pending', 'dispatched', 'running'))")


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("active_children")
