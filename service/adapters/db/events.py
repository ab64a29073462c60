"""The session event stream in the database: each status move and attempt boundary is a row.

A move's event is written by the same transaction as the move (one INSERT, no read), so a
watcher never sees a status the database does not hold, nor misses one it does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import DateTime, bindparam, func, insert, literal, select

from service.adapters.db.models import ChildRow, EventRow, utcnow

EVENTS = EventRow.__table__
_COLUMNS = ["session_id", "kind", "child_id", "status", "created_at"]
# The child's own row gives its session and new status: the event needs no read first.
CHILD_EVENT = insert(EVENTS).from_select(_COLUMNS, select(
    ChildRow.session_id, literal("child"), ChildRow.id, ChildRow.status,
    bindparam("at_", type_=DateTime(timezone=True))).where(ChildRow.id == bindparam("child_id")))
EVENT = insert(EVENTS)
MAX_BATCH = 500


class EventQueries:
    """Mixed into Store: needs its `unit()`."""

    def unit(self) -> Any: ...  # provided by Store

    def add_event(self, session_id: str, kind: str, child_id: str | None = None,
                  status: str | None = None, data: dict[str, Any] | None = None) -> None:
        """Record one event (an attempt boundary; moves record their own)."""
        with self.unit() as db:
            db.connection().execute(EVENT, {"session_id": session_id, "kind": kind,
                                            "child_id": child_id, "status": status,
                                            "data": data, "created_at": utcnow()})

    def events(self, session_id: str, after: int = 0, limit: int = MAX_BATCH) -> list[EventRow]:
        """Return the session's events with an id above `after`, oldest first (one query)."""
        with self.unit() as db:
            return list(db.scalars(
                select(EventRow).where(EventRow.session_id == session_id, EventRow.id > after)
                .order_by(EventRow.id).limit(limit)))

    def last_event_id(self, session_id: str) -> int:
        """Return the id of the session's newest event (0 before the first)."""
        with self.unit() as db:
            found = db.scalars(select(EventRow.id).where(EventRow.session_id == session_id)
                               .order_by(EventRow.id.desc()).limit(1)).first()
        return found or 0

    def children_by_id(self, child_ids: Iterable[str]) -> list[ChildRow]:
        """Return the named children (those an event batch names), in spawn order."""
        wanted = sorted(set(child_ids))
        if not wanted:
            return []
        with self.unit() as db:
            return list(db.scalars(select(ChildRow).where(ChildRow.id.in_(wanted))
                                   .order_by(ChildRow.position)))


    def child_counts(self, session_ids: Iterable[str]) -> dict[str, dict[str, int]]:
        """Return, per session, how many component children are in each status (one query
        for a whole page of sessions)."""
        wanted = sorted(set(session_ids))
        if not wanted:
            return {}
        with self.unit() as db:
            rows = db.execute(
                select(ChildRow.session_id, ChildRow.status, func.count())
                .where(ChildRow.session_id.in_(wanted), ChildRow.kind == "component")
                .group_by(ChildRow.session_id, ChildRow.status)).all()
        counts: dict[str, dict[str, int]] = {ident: {} for ident in wanted}
        for session_id, status, count in rows:
            counts[session_id][status] = count
        return counts


def record_child_moves(db: Any, child_ids: list[str]) -> None:
    """Record one event per moved child in one statement (they were just updated)."""
    if child_ids:
        db.connection().execute(insert(EVENTS).from_select(_COLUMNS, select(
            ChildRow.session_id, literal("child"), ChildRow.id, ChildRow.status,
            literal(utcnow(), DateTime(timezone=True))).where(ChildRow.id.in_(child_ids))))

