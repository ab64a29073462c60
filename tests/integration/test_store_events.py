"""The event stream in the Store (SQLite and PostgreSQL): every move is an event, in order,
written by the move's own transaction."""

from __future__ import annotations

import pytest

from service.adapters.db.store import Store
from service.domain.states import ChildMoves, SessionMoves
from tests.integration import test_store
from tests.integration.test_store import add_children, add_session

store = test_store.store  # the same fixture: a Store on SQLite and on PostgreSQL


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
