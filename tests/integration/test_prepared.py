"""The driver road (prepared.py) writes and reads exactly what SQLAlchemy's own road does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from service.adapters.db import child_results
from service.adapters.db.prepared import Prepared
from service.adapters.db.store import Store
from service.domain.states import ChildMoves, SessionMoves
from service.orchestrator.ports import ChildFinish, NewChild, NewSession
from tests.fakes.local import migrated_store

AT = datetime(2026, 12, 2, 5, 6, 7, 891011, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with migrated_store(request.param, tmp_path,
                        lambda: request.getfixturevalue("postgres_url")) as store:
        yield store


def add_running_children(store: Store, *child_ids: str) -> None:
    """Record a running session and its dispatched component children."""
    store.add_session(NewSession(id="0123abcdef", repository="acme/shop", context="catalog",
                                 branch="ccs/catalog-0123abcdef", base_ref="main",
                                 base_sha="a" * 40, manifest_path=".github/ccs.yml", parallel=1))
    assert store.apply(SessionMoves.INITIALIZE, "0123abcdef")
    assert store.apply(SessionMoves.RUN, "0123abcdef")
    store.add_children([NewChild(id=child_id, session_id="0123abcdef", kind="component",
                                 component=child_id, position=position, spec={"n": child_id},
                                 round=1, branch=f"ccs-child/0123abcdef/{child_id}")
                        for position, child_id in enumerate(child_ids)])
    store.apply_to_all(ChildMoves.DISPATCH, list(child_ids))


def through_sqlalchemy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every Prepared statement run through SQLAlchemy's Connection.execute instead."""
    def execute(self: Prepared, connection: Any, params: dict[str, Any]) -> Any:
        names = self._for(connection).names
        return connection.execute(self.statement, {k: v for k, v in params.items()
                                                   if k in names})

    def first(self: Prepared, connection: Any, params: dict[str, Any]) -> Any:
        row = execute(self, connection, params).first()
        return None if row is None else dict(row._mapping)

    monkeypatch.setattr(Prepared, "execute", execute)
    monkeypatch.setattr(Prepared, "first", first)


def finish(child_id: str, jti: str) -> ChildFinish:
    fields = dict(commit="c" * 40, attempts=2, tests_passed=3, tests_failed=1,
                  changed_files=["src/a.py", "ü.txt"], message="done ✓", finished_at=AT,
                  run_url="https://example.test/run", run_id=77, job_id=None, cost_usd=0.125,
                  input_tokens=10, output_tokens=20)
    return ChildFinish(ChildMoves.SUCCEED, child_id, "0123abcdef", fields, "result",
                       {"status": "succeeded"}, "done ✓", True,
                       token=(jti, AT + timedelta(days=1)))


def typed(records: list[tuple[Any, Any]]) -> list[dict[str, tuple[Any, type]]]:
    """Return each record's fields with their types (so 1 and True differ)."""
    return [{name: (value, type(value)) for name, value in vars(record).items()}
            for pair in records for record in pair]


def stored(store: Store, sql: str, **params: Any) -> list[tuple]:
    """Return rows as the driver reads them (SQLite: the stored text itself)."""
    with store.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql), params)]


def test_the_driver_road_writes_and_reads_what_sqlalchemy_does(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    add_running_children(store, "child-a", "child-b", "child-c")
    monkeypatch.setattr(child_results, "utcnow", lambda: AT)
    with monkeypatch.context() as patched:
        through_sqlalchemy(patched)
        by_sqlalchemy = store.finish_child(finish("child-a", "jti-a"))
    by_driver = store.finish_child(finish("child-b", "jti-b"))
    read_by_driver = [store.child_with_session(c) for c in ("child-a", "child-b")]
    with monkeypatch.context() as patched:
        through_sqlalchemy(patched)
        read_by_sqlalchemy = [store.child_with_session(c) for c in ("child-a", "child-b")]

    assert (by_sqlalchemy.fresh_token, by_sqlalchemy.moved) == (True, True)
    assert (by_driver.fresh_token, by_driver.moved) == (True, True)
    assert (by_sqlalchemy.active, by_driver.active) == (2, 1)
    assert store.finish_child(finish("child-c", "jti-b")).fresh_token is False  # replayed

    # Read back: the same values of the same types (JSON decoded, datetimes, booleans).
    assert typed(read_by_driver) == typed(read_by_sqlalchemy)
    # Written: the same stored values, but for what differs between the two children.
    rows = stored(store, "SELECT * FROM children WHERE id IN ('child-a', 'child-b') "
                         "ORDER BY id")
    names = list(vars(read_by_driver[0][0]))
    same = [i for i, name in enumerate(names)
            if name not in ("id", "component", "position", "branch", "spec")]
    assert [rows[0][i] for i in same] == [rows[1][i] for i in same]
    logged = stored(store, "SELECT session_id, step, command, result, ok, created_at "
                           "FROM interactions WHERE step = 'result' ORDER BY id")
    assert len(logged) == 2
    assert logged[0][2:] == logged[1][2:]
    events = stored(store, "SELECT session_id, kind, status, data, created_at "
                           "FROM session_events WHERE child_id IN ('child-a', 'child-b') "
                           "AND status = 'succeeded' ORDER BY id")
    assert len(events) == 2 and events[0] == events[1]
    tokens = stored(store, "SELECT jti, expires_at FROM seen_tokens ORDER BY jti")
    assert [t[1] for t in tokens] == [tokens[0][1]] * 2
