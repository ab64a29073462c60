"""A child's result in one write, and the sessions' counters of children not at rest.

The callback's database work (bench/callback_load.py): record the token id, move the
child (compare-and-set), log it, and learn whether it was the last. On PostgreSQL that is
ONE statement (data-modifying CTEs, the move's event among them), so a callback costs
BEGIN, the read, this, COMMIT.
On SQLite the same steps are separate statements of one transaction (in-process calls,
no round trips to save; the write lock orders them).

Exactly one fan-in: every child move that changes whether a component child rests also
moves `sessions.active_children` in its transaction (`shift_active`). That UPDATE takes the
session row's lock, so concurrent last results take turns, and the one that brings the
counter to 0 is the one that sees it there (PostgreSQL re-reads a row it waited for).
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    String,
    Text,
    bindparam,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from service.adapters.db.events import CHILD_EVENT, EVENTS
from service.adapters.db.models import ChildRow, InteractionRow, SeenTokenRow, SessionRow, utcnow
from service.adapters.db.prepared import Prepared
from service.domain.states import ChildKind
from service.orchestrator.ports import ChildFinish, Finished

CHILDREN = ChildRow.__table__
SESSIONS = SessionRow.__table__
TOKENS = SeenTokenRow.__table__
LOG = InteractionRow.__table__
COMPONENT = ChildKind.COMPONENT.value


class ChildResults:
    """The Store's result write and counter upkeep (mixed into Store)."""

    engine: Any
    _statements: dict[tuple, Any]

    def connect(self) -> Any: ...  # provided by Store

    def finish_child(self, finish: ChildFinish) -> Finished:
        """Record the token id, make the move and log it, and count what is still active."""
        params = _params(finish)
        with self.connect() as connection:
            if self.engine.dialect.name == "postgresql":
                row = self._statement(finish).first(connection, params)
                return Finished(bool(row["fresh"]), bool(row["moved"]), row["active"] or 0,
                                row["total"] or 0)
            return self._finish_stepwise(connection, finish, params)

    def _finish_stepwise(self, connection: Any, finish: ChildFinish,
                         params: dict[str, Any]) -> Finished:
        if finish.token is not None:
            fresh = _TOKEN_ONCE.first(connection, {"jti": params["jti_"],
                                                   "expires_at": params["expires_"]})
            if fresh is None:
                return Finished(False, False, 0, 0)
        moved = self._statement(finish, returning_only=True).first(connection, params)
        if moved is None:
            return Finished(True, False, 0, 0)
        _LOG_ENTRY.execute(connection, params).close()
        _CHILD_EVENT.execute(connection, params).close()
        if moved["kind"] != COMPONENT:
            return Finished(True, True, 0, 0)
        counted = _COUNTED.first(connection, {"sid_": moved["session_id"], "by_": -1})
        return Finished(True, True, counted["active_children"], counted["total"])

    def _statement(self, finish: ChildFinish, returning_only: bool = False) -> Prepared:
        key = ("finish", finish.move.name, tuple(sorted(finish.fields)),
               finish.token is not None, returning_only)
        statement = self._statements.get(key)
        if statement is None:
            moved = _move(finish, with_token=finish.token is not None and not returning_only)
            statement = self._statements.setdefault(key, Prepared(
                moved.returning(CHILDREN.c.session_id, CHILDREN.c.kind)
                if returning_only else _one_statement(finish, moved)))
        return statement

    def shift_active(self, connection: Any, moved: Iterable[tuple[str, str]],
                     change: int) -> None:
        """Move the counters of the sessions of the (session id, kind) children moved."""
        if not change:
            return
        per_session = Counter(session_id for session_id, kind in moved if kind == COMPONENT)
        for session_id, count in per_session.items():
            connection.execute(_SHIFT, {"sid_": session_id, "by_": change * count})


def _move(finish: ChildFinish, with_token: bool) -> Any:
    """Return the compare-and-set UPDATE of the child (its first result only)."""
    move = finish.move
    where = [CHILDREN.c.id == bindparam("child_id"),
             CHILDREN.c.status.in_(sorted(s.value for s in move.sources))]
    if with_token:
        where.append(exists(select(_fresh().c.jti)))
    return (update(CHILDREN).where(*where)
            .values(status=move.target.value, updated_at=bindparam("at_"),
                    **{name: bindparam(f"{name}_") for name in finish.fields}))


def _one_statement(finish: ChildFinish, moved_update: Any) -> Any:
    """Return the PostgreSQL statement doing the whole write (its CTEs run once each)."""
    moved = moved_update.returning(CHILDREN.c.id, CHILDREN.c.status, CHILDREN.c.session_id,
                                   CHILDREN.c.kind).cte("moved")
    # The move's event (the event stream), written by the same statement.
    evented = insert(EVENTS).from_select(
        ["session_id", "kind", "child_id", "status", "created_at"],
        select(moved.c.session_id, literal("child", String), moved.c.id, moved.c.status,
               bindparam("at_", type_=DateTime(timezone=True)))
    ).returning(EVENTS.c.id).cte("evented")
    logged = insert(LOG).from_select(
        ["session_id", "step", "command", "result", "ok", "created_at"],
        select(moved.c.session_id, bindparam("step_", type_=String),
               bindparam("command_", type_=Text), bindparam("result_", type_=Text),
               bindparam("ok_", type_=Boolean), bindparam("at_", type_=DateTime(timezone=True)))
    ).returning(LOG.c.id).cte("logged")
    counted = (update(SESSIONS)
               .where(SESSIONS.c.id.in_(select(moved.c.session_id)
                                        .where(moved.c.kind == COMPONENT)))
               .values(active_children=SESSIONS.c.active_children - 1)
               .returning(SESSIONS.c.active_children).cte("counted"))
    fresh = (select(func.count()).select_from(_fresh()).scalar_subquery()
             if finish.token is not None else literal(1))
    return select(
        fresh.label("fresh"),
        select(func.count()).select_from(moved).scalar_subquery().label("moved"),
        select(func.count()).select_from(logged).scalar_subquery().label("logged"),
        select(func.count()).select_from(evented).scalar_subquery().label("evented"),
        select(counted.c.active_children).scalar_subquery().label("active"),
        select(func.count()).where(CHILDREN.c.session_id == bindparam("sid_"),
                                   CHILDREN.c.kind == COMPONENT)
        .scalar_subquery().label("total"))


def _params(finish: ChildFinish) -> dict[str, Any]:
    now = utcnow()
    # No key is a column's name: an UPDATE would take such a key for a column to set.
    params = {"child_id": finish.child_id, "sid_": finish.session_id, "at_": now,
              "step_": finish.step, "command_": as_text(finish.command),
              "result_": as_text(finish.result), "ok_": finish.ok,
              **{f"{name}_": value for name, value in finish.fields.items()}}
    if finish.token is not None:
        params["jti_"], params["expires_"] = finish.token
    return params


def as_text(value: Any) -> str:
    """Return a log entry's command or result as stored: text as it is, else JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def dialect_insert(dialect: str) -> Any:
    """Return the INSERT construct with ON CONFLICT of the dialect named `dialect`."""
    if dialect == "postgresql":
        # Imported here: the PostgreSQL dialect costs ~0.05-0.1 s of every local command.
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    return sqlite_insert


@functools.cache
def _fresh() -> Any:
    """Return the CTE recording a token id once (PostgreSQL's one-statement write)."""
    return (dialect_insert("postgresql")(TOKENS)
            .values(jti=bindparam("jti_"), expires_at=bindparam("expires_"))
            .on_conflict_do_nothing().returning(TOKENS.c.jti).cte("fresh"))


_SHIFT = (update(SESSIONS).where(SESSIONS.c.id == bindparam("sid_"))
          .values(active_children=SESSIONS.c.active_children + bindparam("by_")))
# The stepwise road's statements (SQLite), run on the driver (prepared.py).
_COUNTED = Prepared(_SHIFT.returning(
    SESSIONS.c.active_children,
    select(func.count()).where(CHILDREN.c.session_id == bindparam("sid_"),
                               CHILDREN.c.kind == COMPONENT).scalar_subquery().label("total")))
_TOKEN_ONCE = Prepared(sqlite_insert(TOKENS).on_conflict_do_nothing().returning(TOKENS.c.jti))
_LOG_ENTRY = Prepared(insert(LOG).values(
    session_id=bindparam("sid_"), step=bindparam("step_"), command=bindparam("command_"),
    result=bindparam("result_"), ok=bindparam("ok_"), created_at=bindparam("at_")))
_CHILD_EVENT = Prepared(CHILD_EVENT)
