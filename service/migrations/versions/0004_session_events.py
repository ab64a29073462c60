"""the event stream: every status move and attempt boundary of a session, in order

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(length=16),
                  sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("child_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        # Ids never reused: a watcher resumes after the last one it saw.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_session_events_session", "session_events", ["session_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_session_events_session", table_name="session_events")
    op.drop_table("session_events")
