"""an index on the children's (session, kind)

The result write counts the session's component children (`Store.finish_child`); `kind`
was in no index, so on SQLite every child row of the session was read per callback
(0.8 ms of ~2.4 ms at 1,100 children, bench/callback_load.py). With it the count reads
the index only.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_children_session_kind", "children", ["session_id", "kind"])


def downgrade() -> None:
    op.drop_index("ix_children_session_kind", table_name="children")
