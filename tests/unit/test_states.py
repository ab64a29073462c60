"""Session and child transitions: every allowed move in the tables, and the refused ones."""

from __future__ import annotations

import itertools

import pytest

from service.domain.states import (
    CHILD_TRANSITIONS,
    SESSION_TRANSITIONS,
    ChildMoves,
    ChildStatus,
    InvalidTransition,
    SessionStatus,
    check_child_transition,
    check_session_transition,
    child_sources_for,
    sources_for,
)

S, C = SessionStatus, ChildStatus

SESSION_ALLOWED = {
    (S.PENDING, S.INITIALIZING), (S.PENDING, S.FAILED), (S.PENDING, S.CANCELLED),
    (S.INITIALIZING, S.RUNNING), (S.INITIALIZING, S.FAILED), (S.INITIALIZING, S.CANCELLED),
    (S.RUNNING, S.VALIDATING), (S.RUNNING, S.FAILED), (S.RUNNING, S.CANCELLED),
    (S.RUNNING, S.NEEDS_ATTENTION),  # a budget passed while children run (DESIGN §3a)
    (S.VALIDATING, S.FINALIZING), (S.VALIDATING, S.NEEDS_ATTENTION),
    (S.VALIDATING, S.FAILED), (S.VALIDATING, S.CANCELLED),
    (S.FINALIZING, S.COMPLETE), (S.FINALIZING, S.NEEDS_ATTENTION),
    (S.FINALIZING, S.FAILED), (S.FINALIZING, S.CANCELLED),
    (S.NEEDS_ATTENTION, S.INITIALIZING), (S.NEEDS_ATTENTION, S.CANCELLED),
    (S.FAILED, S.INITIALIZING), (S.CANCELLED, S.INITIALIZING),
}
CHILD_ALLOWED = {
    (C.PENDING, C.DISPATCHED), (C.PENDING, C.FAILED), (C.PENDING, C.CANCELLED),
    (C.DISPATCHED, C.RUNNING), (C.DISPATCHED, C.SUCCEEDED), (C.DISPATCHED, C.FAILED),
    (C.DISPATCHED, C.CANCELLED), (C.DISPATCHED, C.TIMED_OUT),
    (C.RUNNING, C.SUCCEEDED), (C.RUNNING, C.FAILED), (C.RUNNING, C.CANCELLED),
    (C.RUNNING, C.TIMED_OUT),
    (C.SUCCEEDED, C.FAILED),
    (C.FAILED, C.PENDING), (C.CANCELLED, C.PENDING), (C.TIMED_OUT, C.PENDING),
}
SESSION_PAIRS = list(itertools.product(S, S))
CHILD_PAIRS = list(itertools.product(C, C))


def test_the_tables_cover_every_status() -> None:
    assert set(SESSION_TRANSITIONS) == set(S)
    assert set(CHILD_TRANSITIONS) == set(C)


@pytest.mark.parametrize(("current", "target"), SESSION_PAIRS, ids=lambda s: s.value)
def test_session_transition(current: SessionStatus, target: SessionStatus) -> None:
    if (current, target) in SESSION_ALLOWED:
        check_session_transition(current, target)
    else:
        with pytest.raises(InvalidTransition, match=f"from {current} to {target}"):
            check_session_transition(current, target)


@pytest.mark.parametrize(("current", "target"), CHILD_PAIRS, ids=lambda s: s.value)
def test_child_transition(current: ChildStatus, target: ChildStatus) -> None:
    if (current, target) in CHILD_ALLOWED:
        check_child_transition(current, target)
    else:
        with pytest.raises(InvalidTransition, match=f"from {current} to {target}"):
            check_child_transition(current, target)


def test_a_complete_session_goes_nowhere_and_a_retry_restarts_from_initializing() -> None:
    assert SESSION_TRANSITIONS[S.COMPLETE] == frozenset()
    assert sources_for(S.INITIALIZING) == {S.PENDING, S.NEEDS_ATTENTION, S.FAILED, S.CANCELLED}


@pytest.mark.parametrize("target", list(S), ids=lambda s: s.value)
def test_sources_for_is_the_table_read_backwards(target: SessionStatus) -> None:
    assert sources_for(target) == {a for a, b in SESSION_ALLOWED if b == target}


@pytest.mark.parametrize("target", list(C), ids=lambda s: s.value)
def test_child_sources_for_is_the_table_read_backwards(target: ChildStatus) -> None:
    assert child_sources_for(target) == {a for a, b in CHILD_ALLOWED if b == target}


def test_only_one_status_leads_into_validating_so_the_fan_in_is_a_single_cas() -> None:
    assert sources_for(S.VALIDATING) == {S.RUNNING}
    assert sources_for(S.PENDING) == frozenset()


def test_resting_and_terminal_sets() -> None:
    assert {s for s in S if s.is_terminal} == {
        S.COMPLETE, S.NEEDS_ATTENTION, S.FAILED, S.CANCELLED}
    assert {c for c in C if c.is_terminal} == {
        C.SUCCEEDED, C.FAILED, C.CANCELLED, C.TIMED_OUT}
    assert {c for c in C if c.needs_rerun} == {C.FAILED, C.CANCELLED, C.TIMED_OUT}


def test_statuses_are_stored_as_their_text() -> None:
    assert [s.value for s in S] == ["pending", "initializing", "running", "validating",
                                    "finalizing", "complete", "needs_attention", "failed",
                                    "cancelled"]
    assert [c.value for c in C] == ["pending", "dispatched", "running", "succeeded", "failed",
                                    "cancelled", "timed_out"]


def test_every_child_move_starts_from_all_resting_or_all_moving_statuses() -> None:
    # The Store's counter of children not at rest relies on it (active_change).
    for move in ChildMoves.all():
        assert len({source.is_terminal for source in move.sources}) == 1, move.name
    assert ChildMoves.SUCCEED.active_change == ChildMoves.CANCEL.active_change == -1
    assert ChildMoves.RETRY.active_change == 1
    assert ChildMoves.DISPATCH.active_change == ChildMoves.FAIL_VALIDATION.active_change == 0
