"""The Store on a SQLite file and on PostgreSQL: scoping, compare-and-set, migrations."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect

from service.adapters.db.engine import make_engine, upgrade
from service.adapters.db.models import utcnow
from service.adapters.db.store import NotFound, Store
from service.domain.states import ChildMove, ChildMoves, ChildStatus, SessionMoves, SessionStatus
from service.orchestrator.ports import NewChild, NewSession
from tests.fakes.local import migrated_store

S, C = SessionStatus, ChildStatus


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with migrated_store(request.param, tmp_path,
                        lambda: request.getfixturevalue("postgres_url")) as store:
        yield store


def add_session(store: Store, session_id: str = "0123abcdef", repository: str = "acme/shop",
                status: SessionStatus = S.RUNNING) -> None:
    """Record a session and walk it to `status` (pending or running) by the named moves."""
    store.add_session(NewSession(id=session_id, repository=repository, context="catalog",
                                 branch=f"ccs/catalog-{session_id}", base_ref="main",
                                 base_sha="a" * 40, manifest_path=".github/ccs.yml", parallel=1))
    if status == S.RUNNING:
        assert store.apply(SessionMoves.INITIALIZE, session_id)
        assert store.apply(SessionMoves.RUN, session_id)


def add_children(store: Store, *children: tuple[str, str, int],
                 session_id: str = "0123abcdef") -> set[str]:
    """Record (id, component, position) children and dispatch them."""
    existed = store.add_children([
        NewChild(id=child_id, session_id=session_id, kind="component", component=component,
                 position=position, spec={"name": component}, round=1,
                 branch=f"ccs-child/{session_id}/{component}")
        for child_id, component, position in children])
    store.apply_to_all(ChildMoves.DISPATCH, [child_id for child_id, _, _ in children])
    return existed


def test_migrations_create_every_table(store: Store) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert {"sessions", "children", "interactions", "dispatches", "webhook_deliveries",
            "seen_tokens", "installations"} <= tables


def test_a_session_is_read_only_within_its_repository(store: Store) -> None:
    add_session(store)
    assert store.session("0123abcdef").repository == "acme/shop"
    assert store.session("0123abcdef", repository="acme/shop").context == "catalog"
    with pytest.raises(NotFound, match="in acme/other"):
        store.session("0123abcdef", repository="acme/other")
    with pytest.raises(NotFound):
        store.session("ffffffffff")
    assert store.sessions("acme/other") == []
    assert [s.id for s in store.sessions("acme/shop")] == ["0123abcdef"]


def test_sessions_list_newest_first_with_a_cursor(store: Store) -> None:
    for n in range(3):
        add_session(store, f"000000000{n}")
    newest_first = [s.id for s in store.sessions(None)]
    assert newest_first == ["0000000002", "0000000001", "0000000000"]
    second = store.sessions(None)[1]
    assert [s.id for s in store.sessions(None, before=(second.created_at, second.id))] == [
        "0000000000"]
    assert store.sessions(None, status="complete") == []


def test_move_session_follows_the_table(store: Store) -> None:
    add_session(store, status=S.PENDING)
    assert not store.apply(SessionMoves.VALIDATE, "0123abcdef")  # pending → validating: no
    assert store.apply(SessionMoves.INITIALIZE, "0123abcdef")
    assert store.apply(SessionMoves.RUN, "0123abcdef", message="spawned")
    assert store.session("0123abcdef").message == "spawned"
    assert store.apply(SessionMoves.VALIDATE, "0123abcdef")
    assert not store.apply(SessionMoves.VALIDATE, "0123abcdef")  # already there
    assert not store.apply(SessionMoves.CANCEL, "ffffffffff")


@pytest.mark.parametrize("attempt", range(3))
def test_two_threads_race_to_validating_and_exactly_one_wins(store: Store, attempt: int) -> None:
    add_session(store)
    barrier = threading.Barrier(8)
    wins: list[bool] = []

    def race() -> None:
        barrier.wait()
        wins.append(store.apply(SessionMoves.VALIDATE, "0123abcdef"))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(wins) == [False] * 7 + [True]
    assert store.session("0123abcdef").status == "validating"


def test_children_in_spawn_order_and_status_counts(store: Store) -> None:
    add_session(store)
    add_children(store, ("c2", "pricing", 2), ("c0", "isbn", 0), ("c1", "money", 1))
    assert add_children(store, ("c9", "isbn", 9)) == {"isbn"}  # one child per component
    assert [c.component for c in store.children("0123abcdef")] == ["isbn", "money", "pricing"]
    child, session = store.child_with_session("c1")
    assert child.component == "money" and session.id == "0123abcdef"
    with pytest.raises(NotFound):
        store.child_with_session("nope")
    assert store.apply(ChildMoves.SUCCEED, "c0", commit="b" * 40)
    assert store.child_status_counts("0123abcdef") == {"dispatched": 2, "succeeded": 1}


def test_move_child_is_a_compare_and_set(store: Store) -> None:
    add_session(store)
    add_children(store, ("c0", "isbn", 0))
    assert not store.apply(ChildMoves.RETRY, "c0")  # dispatched → pending is not in the table
    assert not store.apply(ChildMoves.FAIL_VALIDATION, "c0")  # only from succeeded
    assert store.apply(ChildMoves.SUCCEED, "c0")
    assert not store.apply(ChildMoves.FAIL, "c0")  # only from dispatched or running
    assert store.apply(ChildMoves.FAIL_VALIDATION, "c0", message="scope")
    assert store.child("c0").message == "scope"
    assert not store.apply(ChildMoves.SUCCEED, "c0")  # failed → succeeded is not in the table
    assert store.child("c0").status == C.FAILED


def test_two_threads_race_one_result_and_exactly_one_is_recorded(store: Store) -> None:
    add_session(store)
    add_children(store, ("c0", "isbn", 0))
    barrier = threading.Barrier(2)
    wins: list[tuple[str, bool]] = []

    def report(move: ChildMove) -> None:
        barrier.wait()
        wins.append((move.target.value, store.apply(move, "c0")))

    threads = [threading.Thread(target=report, args=(m,))
               for m in (ChildMoves.SUCCEED, ChildMoves.FAIL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    winners = [status for status, won in wins if won]
    assert len(winners) == 1 and store.child("c0").status == winners[0]


def test_silent_children(store: Store) -> None:
    add_session(store)
    add_children(store, ("c0", "isbn", 0), ("c1", "money", 1))
    store.apply(ChildMoves.SUCCEED, "c1")
    assert store.silent_children(utcnow() - timedelta(minutes=1)) == []
    assert [c.id for c in store.silent_children(utcnow() + timedelta(minutes=1))] == ["c0"]


def test_the_interaction_log_and_once_only_records(store: Store) -> None:
    add_session(store)
    store.log("0123abcdef", "spawn", ["isbn", "money"], "dispatched")
    store.log("0123abcdef", "result", {"component": "isbn"}, "boom", ok=False)
    log = store.interactions("0123abcdef")
    assert [(i.step, i.command, i.ok) for i in log] == [
        ("spawn", '["isbn", "money"]', True), ("result", '{"component": "isbn"}', False)]
    assert store.record_delivery("d-1", "ping") is True
    assert store.record_delivery("d-1", "ping") is False
    assert store.record_token("jti-1", utcnow()) is True
    assert store.record_token("jti-1", utcnow()) is False


def test_the_inbox_keeps_an_event_until_its_effect_is_recorded(store: Store) -> None:
    event = {"type": "CommentCreated", "fields": {"body": "/ccs implement catalog"}}
    assert store.record_event("d-2", "issue_comment", event) == "new"
    assert store.record_event("d-2", "issue_comment", event) == "pending"
    assert store.event_payload("d-2") == event
    assert store.pending_events(utcnow() + timedelta(minutes=1)) == ["d-2"]
    assert store.pending_events(utcnow() - timedelta(minutes=1)) == []  # too fresh
    store.mark_event_done("d-2")
    assert store.record_event("d-2", "issue_comment", event) == "done"
    assert store.event_payload("d-2") is None
    assert store.pending_events(utcnow() + timedelta(minutes=1)) == []
    assert store.record_event("d-3", "ping", None) == "new"  # nothing to do: done at once
    assert store.record_event("d-3", "ping", None) == "done"


def test_a_childs_bundle_is_kept_replaced_and_dropped(store: Store) -> None:
    # The migration (0005) made the table; a bundle of any bytes round-trips.
    assert "child_bundles" in set(inspect(store.engine).get_table_names())
    add_session(store)
    add_children(store, ("c1", "isbn", 0))
    assert store.bundle("c1") is None
    store.save_bundle("c1", b"# v2 git bundle\n\x00\xff")
    assert store.bundle("c1") == b"# v2 git bundle\n\x00\xff"
    with store.atomic():  # inside the result's own transaction too
        store.save_bundle("c1", b"second")
    assert store.bundle("c1") == b"second"
    store.drop_bundle("c1")
    store.drop_bundle("c1")  # dropping twice is fine (a re-run Validate)
    assert store.bundle("c1") is None


# The event stream: every move is an event, in order, written by the move's transaction --


def test_every_move_of_a_session_and_its_children_is_an_event_in_order(store: Store) -> None:
    add_session(store)
    add_children(store, ("c1", "alpha", 0), ("c2", "beta", 1))
    assert store.apply(ChildMoves.START, "c1")
    assert store.apply(ChildMoves.SUCCEED, "c1", attempts=1, tests_passed=3)
    assert not store.apply(ChildMoves.SUCCEED, "c1")  # a lost compare-and-set is no event
    store.add_event("0123abcdef", "progress", "c2", data={"phase": "coder", "attempt": 1,
                                                          "attempts": 3})

    events = store.events("0123abcdef")
    assert [(e.kind, e.child_id, e.status) for e in events] == [
        ("session", None, "initializing"), ("session", None, "running"),
        ("child", "c1", "dispatched"), ("child", "c2", "dispatched"),
        ("child", "c1", "running"), ("child", "c1", "succeeded"),
        ("progress", "c2", None)]
    assert events[-1].data == {"phase": "coder", "attempt": 1, "attempts": 3}
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [e.status for e in store.events("0123abcdef", after=ids[4])] == ["succeeded", None]
    assert store.last_event_id("0123abcdef") == ids[-1]
    assert [c.component for c in store.children_by_id(["c2", "c1"])] == ["alpha", "beta"]


def test_a_move_rolled_back_leaves_no_event(store: Store) -> None:
    add_session(store)
    add_children(store, ("c1", "alpha", 0))
    before = store.last_event_id("0123abcdef")
    with pytest.raises(RuntimeError), store.atomic():
        assert store.apply(ChildMoves.START, "c1")
        raise RuntimeError("the callback failed after the move")
    assert store.last_event_id("0123abcdef") == before
    assert store.child("c1").status == "dispatched"


def test_events_are_scoped_to_their_session(store: Store) -> None:
    add_session(store, "aaaaaaaaaa")
    add_session(store, "bbbbbbbbbb")
    assert store.apply(SessionMoves.CANCEL, "bbbbbbbbbb")
    assert [e.status for e in store.events("aaaaaaaaaa")] == ["initializing", "running"]
    assert [e.status for e in store.events("bbbbbbbbbb")][-1] == "cancelled"
def test_the_quick_head_check_agrees_with_alembic(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    from service.adapters.db.engine import alembic_config, at_head, head_revision

    url = f"sqlite:///{tmp_path / 'head.db'}"
    assert head_revision() == ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = make_engine(url)
    assert not at_head(engine)  # a new file: migrate
    upgrade(url, engine)
    assert at_head(engine)
    engine.dispose()
