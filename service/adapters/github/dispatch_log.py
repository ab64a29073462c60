"""DispatchRow bookkeeping: a chunk is recorded before it is sent, so it is never sent twice."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from service.adapters.db.models import ChildRow, DispatchRow, utcnow
from service.adapters.db.store import Store

PLANNED, SENT, FAILED = "planned", "sent", "failed"


class DispatchLog:
    """Reads and writes the dispatches table through the store's engine."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def rows(self, session_id: str, round_: int | None = None,
             mode: str | None = None) -> list[DispatchRow]:
        """Return the session's dispatches (of one round and mode), by chunk."""
        query = select(DispatchRow).where(DispatchRow.session_id == session_id)
        if round_ is not None:
            query = query.where(DispatchRow.round == round_)
        if mode is not None:
            query = query.where(DispatchRow.mode == mode)
        with self.store.unit() as db:
            return list(db.scalars(query.order_by(DispatchRow.round, DispatchRow.chunk)))

    def plan(self, session_id: str, round_: int, chunk: int, mode: str,
             child_ids: list[str]) -> DispatchRow | None:
        """Record a planned chunk; return None when another worker recorded it first."""
        row = DispatchRow(session_id=session_id, round=round_, chunk=chunk, mode=mode,
                          child_ids=list(child_ids), state=PLANNED)
        try:
            with self.store.unit() as db:
                db.add(row)
        except IntegrityError:
            return None
        return row

    def mark(self, row_id: int, state: str, run_id: int | None = None,
             run_url: str | None = None) -> None:
        """Record what became of a chunk."""
        with self.store.unit() as db:
            db.execute(update(DispatchRow).where(DispatchRow.id == row_id)
                       .values(state=state, run_id=run_id, run_url=run_url))

    def claimed_runs(self, session_id: str) -> set[int]:
        """Return the run ids already tied to one of the session's dispatches."""
        return {row.run_id for row in self.rows(session_id) if row.run_id}

    def record_run(self, child_ids: list[str], run_id: int, run_url: str | None) -> None:
        """Tie a chunk's children to their run in one statement."""
        with self.store.unit() as db:
            db.execute(update(ChildRow).where(ChildRow.id.in_(child_ids))
                       .values(run_id=run_id, run_url=run_url, updated_at=utcnow()))
