"""The orchestrator's database port: scoped reads and compare-and-set status changes."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Engine, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import sessionmaker

from service.adapters.db.child_results import ChildResults, as_text, dialect_insert
from service.adapters.db.events import CHILD_EVENT, EVENT, EventQueries, record_child_moves
from service.adapters.db.models import (
    ChildRow,
    InteractionRow,
    SessionRow,
    utcnow,
)
from service.adapters.db.prepared import Prepared
from service.adapters.db.service_queries import ServiceQueries
from service.adapters.db.transactions import Transactions
from service.domain.spend import Usage
from service.domain.states import ChildKind, ChildMove, ChildStatus, SessionMove
from service.orchestrator.ports import ChildFinish, Finished, NewChild, NewSession, NotFound

__all__ = ["ChildFinish", "Finished", "NotFound", "Store"]


class Store(Transactions, ServiceQueries, EventQueries, ChildResults):
    """Reads and writes sessions; every session read is scoped by repository."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._local = threading.local()  # this thread's atomic() transaction, if any
        # Prepared statements of the hot paths by shape: building an UPDATE of a dozen
        # columns cost more CPU than running it (SQLite, bench/service_load.py).
        self._statements: dict[tuple, Any] = {}

    # Sessions -----------------------------------------------------------------------

    def add_session(self, new: NewSession) -> SessionRow:
        """Insert a new session (status pending)."""
        row = SessionRow(**vars(new), status="pending", round=1, message="")
        with self.unit() as db:
            db.add(row)
        return row

    def session(self, session_id: str, repository: str | None = None) -> SessionRow:
        """Return the session, or raise NotFound (also when it belongs to another repository)."""
        with self.unit() as db:
            query = select(SessionRow).where(SessionRow.id == session_id)
            if repository is not None:
                query = query.where(SessionRow.repository == repository)
            row = db.scalars(query).first()
        if row is None:
            raise NotFound(f"no session {session_id!r}" + (
                f" in {repository}" if repository else ""))
        return row

    def session_for_delivery(self, delivery_id: str) -> SessionRow | None:
        """Return the session a webhook delivery started, if any."""
        with self.unit() as db:
            return db.scalars(select(SessionRow)
                              .where(SessionRow.delivery_id == delivery_id)).first()

    def sessions(
        self,
        repository: str | None,
        status: str | None = None,
        limit: int = 50,
        before: tuple[datetime, str] | None = None,
    ) -> list[SessionRow]:
        """Return sessions newest first, optionally after a (created_at, id) cursor."""
        with self.unit() as db:
            query = select(SessionRow)
            if repository is not None:
                query = query.where(SessionRow.repository == repository)
            if status:
                query = query.where(SessionRow.status == status)
            if before:
                created, ident = before
                query = query.where(
                    (SessionRow.created_at < created)
                    | ((SessionRow.created_at == created) & (SessionRow.id < ident))
                )
            query = query.order_by(SessionRow.created_at.desc(), SessionRow.id.desc())
            return list(db.scalars(query.limit(limit)))

    def apply(self, move: SessionMove | ChildMove, record_id: str, **fields: Any) -> bool:
        """Make the named move if the record is in one of its sources (compare-and-set).

        One UPDATE: when two workers race, exactly one sees True.
        """
        if isinstance(move, SessionMove):
            return self._move_session(move, record_id, fields)
        return self._move_child(move, record_id, fields)

    def _move_session(self, move: SessionMove, session_id: str, fields: dict[str, Any]) -> bool:
        sources = [s.value for s in move.sources]
        at = utcnow()
        with self.unit() as db:
            result = db.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id, SessionRow.status.in_(sources))
                .values(status=move.target.value, updated_at=at, **fields)
            )
            if result.rowcount == 1:
                db.connection().execute(EVENT, {
                    "session_id": session_id, "kind": "session", "child_id": None,
                    "status": move.target.value, "data": None, "created_at": at})
        return result.rowcount == 1

    def update_session(self, session_id: str, **fields: Any) -> None:
        """Set fields on the session without changing its status."""
        with self.unit() as db:
            db.execute(
                update(SessionRow).where(SessionRow.id == session_id)
                .values(updated_at=utcnow(), **fields)
            )

    # Children -----------------------------------------------------------------------

    def add_children(self, new: Iterable[NewChild]) -> set[str]:
        """Insert children; return the components that already existed (left as they were)."""
        rows = [{**vars(child), "status": ChildStatus.PENDING.value, "attempts": 0,
                 "message": "", "updated_at": utcnow()} for child in new]
        if not rows:
            return set()
        with self.unit() as db:
            inserted = db.execute(
                dialect_insert(self.engine.dialect.name)(ChildRow.__table__).on_conflict_do_nothing()
                .returning(ChildRow.component, ChildRow.session_id, ChildRow.kind), rows).all()
            # Every new child is pending: not at rest.
            self.shift_active(db.connection(), [(r.session_id, r.kind) for r in inserted], 1)
        return {row["component"] for row in rows} - {r.component for r in inserted}

    def children(self, session_id: str, kind: str | None = "component") -> list[ChildRow]:
        """Return the session's children in spawn order."""
        with self.unit() as db:
            query = select(ChildRow).where(ChildRow.session_id == session_id)
            if kind:
                query = query.where(ChildRow.kind == kind)
            return list(db.scalars(query.order_by(ChildRow.position)))

    def child(self, child_id: str) -> ChildRow:
        """Return the child, or raise NotFound."""
        with self.unit() as db:
            row = db.get(ChildRow, child_id)
        if row is None:
            raise NotFound(f"no child {child_id!r}")
        return row

    def child_with_session(self, child_id: str) -> tuple[Any, Any]:
        """Return the child and its session in one round trip (plain records: columns only,
        no ORM objects, a statement compiled once and run on the driver)."""
        with self.connect() as connection:
            values = _CHILD_WITH_SESSION.first(connection, {"child_id": child_id})
        if values is None:
            raise NotFound(f"no child {child_id!r}")
        return (SimpleNamespace(**{name: values[f"c_{name}"] for name in _CHILD_NAMES}),
                SimpleNamespace(**{name: values[f"s_{name}"] for name in _SESSION_NAMES}))

    def _move_child(self, move: ChildMove, child_id: str, fields: dict[str, Any]) -> bool:
        sources = tuple(sorted(s.value for s in move.sources))
        key = ("move_child", move.target.value, sources, tuple(sorted(fields)))
        statement = self._statements.get(key)
        if statement is None:
            statement = self._statements.setdefault(key, (
                update(ChildRow.__table__)
                .where(ChildRow.id == bindparam("child_id"), ChildRow.status.in_(sources))
                .values(status=move.target.value, updated_at=bindparam("at_"),
                        **{name: bindparam(f"{name}_") for name in fields})
                .returning(ChildRow.session_id, ChildRow.kind)))
        params = {f"{name}_": value for name, value in fields.items()}
        at = utcnow()
        with self.connect() as connection:
            moved = connection.execute(statement, {"child_id": child_id, "at_": at,
                                                   **params}).all()
            if moved:
                # The event joins the move's transaction: one more INSERT, no read.
                connection.execute(CHILD_EVENT, {"child_id": child_id, "at_": at})
            self.shift_active(connection, moved, move.active_change)
        return len(moved) == 1

    def apply_to_all(self, move: ChildMove, child_ids: list[str], **fields: Any) -> list[str]:
        """Make the named move on many children at once (one compare-and-set); return the
        ids that moved."""
        if not child_ids:
            return []
        with self.unit() as db:
            moved = db.execute(
                update(ChildRow)
                .where(ChildRow.id.in_(child_ids),
                       ChildRow.status.in_([s.value for s in move.sources]))
                .values(status=move.target.value, updated_at=utcnow(), **fields)
                .returning(ChildRow.id, ChildRow.session_id, ChildRow.kind)
            ).all()
            record_child_moves(db, [r.id for r in moved])
            self.shift_active(db.connection(), [(r.session_id, r.kind) for r in moved],
                              move.active_change)
        return [r.id for r in moved]

    def delete_children(self, session_id: str, kind: str) -> None:
        """Delete the session's children of one kind (a verify row a retry starts afresh)."""
        with self.unit() as db:
            gone = db.execute(delete(ChildRow).where(ChildRow.session_id == session_id,
                                                     ChildRow.kind == kind)
                              .returning(ChildRow.session_id, ChildRow.kind,
                                         ChildRow.status)).all()
            self.shift_active(db.connection(), [(r.session_id, r.kind) for r in gone
                                                if not ChildStatus(r.status).is_terminal], -1)

    def update_child(self, child_id: str, **fields: Any) -> None:
        """Set fields on a child without changing its status."""
        with self.unit() as db:
            db.execute(
                update(ChildRow).where(ChildRow.id == child_id)
                .values(updated_at=utcnow(), **fields)
            )

    def child_status_counts(self, session_id: str,
                            kind: str | None = "component") -> dict[str, int]:
        """Return how many of the session's children (of every kind with None) are in each
        status (one query)."""
        query = select(ChildRow.status, func.count()).where(ChildRow.session_id == session_id)
        if kind:
            query = query.where(ChildRow.kind == kind)
        with self.unit() as db:
            rows = db.execute(query.group_by(ChildRow.status)).all()
        return {status: count for status, count in rows}

    def usage(self, session_id: str, round: int | None = None) -> Usage:
        """Return what the session's component children spent (of one round, or all)."""
        query = select(func.coalesce(func.sum(ChildRow.cost_usd), 0.0),
                       func.coalesce(func.sum(ChildRow.input_tokens), 0),
                       func.coalesce(func.sum(ChildRow.output_tokens), 0)).where(
            ChildRow.session_id == session_id, ChildRow.kind == ChildKind.COMPONENT.value)
        if round is not None:
            query = query.where(ChildRow.round == round)
        with self.unit() as db:
            cost, tokens_in, tokens_out = db.execute(query).one()
        return Usage(round_cost(cost), int(tokens_in), int(tokens_out))

    def silent_children(self, older_than: datetime,
                        repository: str | None = None) -> list[ChildRow]:
        """Return dispatched or running children not heard from since `older_than`."""
        active = [ChildStatus.DISPATCHED.value, ChildStatus.RUNNING.value]
        query = select(ChildRow).where(ChildRow.status.in_(active),
                                       ChildRow.updated_at < older_than)
        if repository is not None:
            query = query.join(SessionRow, SessionRow.id == ChildRow.session_id).where(
                SessionRow.repository == repository)
        with self.unit() as db:
            return list(db.scalars(query))

    def repositories_with_silent_children(self, older_than: datetime
                                          ) -> list[tuple[str, int | None]]:
        """Return (repository, installation id) of every repository with a silent child."""
        active = [ChildStatus.DISPATCHED.value, ChildStatus.RUNNING.value]
        with self.unit() as db:
            rows = db.execute(
                select(SessionRow.repository, SessionRow.installation_id).distinct()
                .join(ChildRow, ChildRow.session_id == SessionRow.id)
                .where(ChildRow.status.in_(active), ChildRow.updated_at < older_than)
            ).all()
        return [(repository, installation) for repository, installation in rows]

    # Interactions -------------------------------------------------------------------

    def log(self, session_id: str, step: str, command: Any, result: Any, ok: bool = True) -> None:
        """Record one step's command and result in the session's interaction log."""
        with self.connect() as connection:
            connection.execute(_LOG, {"session_id": session_id, "step": step,
                                           "command": as_text(command),
                                           "result": as_text(result),
                                           "ok": ok, "created_at": utcnow()})

    def interactions(self, session_id: str) -> list[InteractionRow]:
        """Return the session's interaction log, oldest first."""
        with self.unit() as db:
            return list(db.scalars(
                select(InteractionRow).where(InteractionRow.session_id == session_id)
                .order_by(InteractionRow.id)
            ))

    def _insert_once(self, row: Any) -> bool:
        # INSERT … ON CONFLICT DO NOTHING: no exception, so it also works inside atomic().
        table = type(row).__table__
        values = {column.key: getattr(row, column.key) for column in table.columns
                  if getattr(row, column.key) is not None}
        key = ("insert_once", table.name, tuple(sorted(values)))
        statement = self._statements.get(key)
        if statement is None:
            statement = self._statements.setdefault(key, (
                dialect_insert(self.engine.dialect.name)(table).on_conflict_do_nothing()
                .returning(next(iter(table.primary_key.columns)))))
        with self.connect() as connection:
            inserted = connection.execute(statement, values).first()
        return inserted is not None


_CHILD_NAMES = tuple(column.key for column in ChildRow.__table__.columns)
_SESSION_NAMES = tuple(column.key for column in SessionRow.__table__.columns)
_CHILD_WITH_SESSION = Prepared(
    select(*[column.label(f"c_{column.key}") for column in ChildRow.__table__.columns],
           *[column.label(f"s_{column.key}") for column in SessionRow.__table__.columns])
    .join_from(ChildRow.__table__, SessionRow.__table__,
               SessionRow.__table__.c.id == ChildRow.__table__.c.session_id)
    .where(ChildRow.__table__.c.id == bindparam("child_id")))
_LOG = insert(InteractionRow.__table__)


def round_cost(value: Any) -> float:
    """Return a summed cost as dollars to the micro-dollar (float sums drift)."""
    return round(float(value or 0), 6)

