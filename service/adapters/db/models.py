"""SQLAlchemy 2 models: sessions, children, interactions, events, dispatches and webhook
bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from service.domain.manifest import MANIFEST_PATH


def utcnow() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base for every ccs table."""

    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class SessionRow(Base):
    """One coding session for a context in one repository."""

    __tablename__ = "sessions"
    __table_args__ = (
        UniqueConstraint("repository", "branch", name="uq_sessions_repository_branch"),
        Index("ix_sessions_repository_created", "repository", "created_at"),
        Index("ix_sessions_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    repository: Mapped[str] = mapped_column(String(512))
    installation_id: Mapped[int | None] = mapped_column(BigInteger)
    context: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    branch: Mapped[str] = mapped_column(String(255))
    base_ref: Mapped[str] = mapped_column(String(255))
    base_sha: Mapped[str | None] = mapped_column(String(64))
    manifest_path: Mapped[str] = mapped_column(String(255), default=MANIFEST_PATH)
    requested_components: Mapped[list[Any] | None] = mapped_column(JSON)
    issue_number: Mapped[int | None] = mapped_column(Integer)
    requested_by: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(16), default="cli")
    push: Mapped[bool] = mapped_column(Boolean, default=False)
    parallel: Mapped[int | None] = mapped_column(Integer)
    round: Mapped[int] = mapped_column(Integer, default=1)
    message: Mapped[str] = mapped_column(Text, default="")
    merged_commit: Mapped[str | None] = mapped_column(String(64))
    final_commit: Mapped[str | None] = mapped_column(String(64))
    pull_request_url: Mapped[str | None] = mapped_column(String(1024))
    tracking_comment_id: Mapped[int | None] = mapped_column(BigInteger)
    delivery_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    budget: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    spawned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Component children pending or active; the Store keeps it with every child move, so a
    # result's own write says whether it was the last (one row lock orders the fan-in).
    active_children: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    children: Mapped[list[ChildRow]] = relationship(
        back_populates="session", order_by="ChildRow.position", lazy="raise"
    )


class ChildRow(Base):
    """One component's job within a session (or the session's verify job)."""

    __tablename__ = "children"
    __table_args__ = (
        UniqueConstraint("session_id", "component", name="uq_children_session_component"),
        Index("ix_children_session", "session_id"),
        Index("ix_children_session_kind", "session_id", "kind"),
        Index("ix_children_run", "run_id"),
        Index("ix_children_status_updated", "status", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="component")
    component: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    round: Mapped[int] = mapped_column(Integer, default=1)
    branch: Mapped[str] = mapped_column(String(255))
    start_sha: Mapped[str | None] = mapped_column(String(64))
    commit: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    tests_passed: Mapped[int] = mapped_column(Integer, default=0)
    tests_failed: Mapped[int] = mapped_column(Integer, default=0)
    tests_errors: Mapped[int] = mapped_column(Integer, default=0)
    tests_skipped: Mapped[int] = mapped_column(Integer, default=0)
    changed_files: Mapped[list[Any] | None] = mapped_column(JSON)
    message: Mapped[str] = mapped_column(Text, default="")
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    run_url: Mapped[str | None] = mapped_column(String(1024))
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    session: Mapped[SessionRow] = relationship(back_populates="children", lazy="raise")


class ChildBundleRow(Base):
    """A child's commit as the git bundle its job sent, kept until Validate takes it in."""

    __tablename__ = "child_bundles"

    child_id: Mapped[str] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"),
                                          primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class InteractionRow(Base):
    """One step's command and result, kept as the session's log."""

    __tablename__ = "interactions"
    __table_args__ = (Index("ix_interactions_session", "session_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(32))
    command: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(Text)
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EventRow(Base):
    """One change of a session: a status move (session or child) or an attempt boundary.

    The id only grows (SQLite: AUTOINCREMENT, PostgreSQL: a sequence), so a watcher resumes
    after the last id it saw (the SSE `id:`).
    """

    __tablename__ = "session_events"
    __table_args__ = (Index("ix_session_events_session", "session_id", "id"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # session | child | progress
    child_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DispatchRow(Base):
    """One workflow dispatch (a chunk of ≤256 children) so a retried step never sends it twice."""

    __tablename__ = "dispatches"
    __table_args__ = (
        UniqueConstraint("session_id", "round", "chunk", "mode", name="uq_dispatch_chunk"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer)
    chunk: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(16), default="component")
    child_ids: Mapped[list[Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="planned")
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    run_url: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebhookDeliveryRow(Base):
    """A webhook delivery id, recorded once so a redelivery does nothing twice."""

    __tablename__ = "webhook_deliveries"

    delivery_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The durable inbox (DESIGN §8): the typed event, until its effect is recorded.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SeenTokenRow(Base):
    """A callback token id (OIDC jti) already used, so it cannot be replayed."""

    __tablename__ = "seen_tokens"

    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InstallationRow(Base):
    """A GitHub App installation and the account it belongs to."""

    __tablename__ = "installations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # active, suspended or deleted (service/domain/installations.py)
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    repositories: Mapped[list[Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
