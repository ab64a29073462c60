"""Session and child-session statuses and the transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum


class SessionStatus(StrEnum):
    """Where a session is in its life; stored as text."""

    PENDING = "pending"  # recorded, nothing done yet
    INITIALIZING = "initializing"  # creating the session branch
    RUNNING = "running"  # children dispatched, waiting for their results
    VALIDATING = "validating"  # every child terminal; checking their work
    FINALIZING = "finalizing"  # merging, verifying and pushing
    COMPLETE = "complete"  # branch pushed (and pull request opened)
    NEEDS_ATTENTION = "needs_attention"  # a child or the merged tree failed; retry possible
    FAILED = "failed"  # could not start or continue (bad manifest, lost base)
    CANCELLED = "cancelled"  # stopped by a user

    @property
    def is_terminal(self) -> bool:
        """Return True when no step will move the session on by itself."""
        return self in SESSION_RESTING


class ChildStatus(StrEnum):
    """Where one component's job is; stored as text."""

    PENDING = "pending"  # recorded, not dispatched yet
    DISPATCHED = "dispatched"  # handed to an executor
    RUNNING = "running"  # the executor reported it started
    SUCCEEDED = "succeeded"  # result accepted and validated
    FAILED = "failed"  # job failed, or its result failed validation
    CANCELLED = "cancelled"  # stopped by a user or Ctrl-C
    TIMED_OUT = "timed_out"  # silent past the child timeout

    @property
    def is_terminal(self) -> bool:
        """Return True when the child has a final outcome for this round."""
        return self in CHILD_TERMINAL

    @property
    def needs_rerun(self) -> bool:
        """Return True when a retry must dispatch this child again."""
        return self in CHILD_RERUN


SESSION_RESTING = frozenset(
    {
        SessionStatus.COMPLETE,
        SessionStatus.NEEDS_ATTENTION,
        SessionStatus.FAILED,
        SessionStatus.CANCELLED,
    }
)
CHILD_TERMINAL = frozenset(
    {ChildStatus.SUCCEEDED, ChildStatus.FAILED, ChildStatus.CANCELLED, ChildStatus.TIMED_OUT}
)
CHILD_RERUN = frozenset({ChildStatus.FAILED, ChildStatus.CANCELLED, ChildStatus.TIMED_OUT})
CHILD_ACTIVE = frozenset({ChildStatus.DISPATCHED, ChildStatus.RUNNING})

_S = SessionStatus
SESSION_TRANSITIONS: dict[SessionStatus, frozenset[SessionStatus]] = {
    _S.PENDING: frozenset({_S.INITIALIZING, _S.FAILED, _S.CANCELLED}),
    _S.INITIALIZING: frozenset({_S.RUNNING, _S.FAILED, _S.CANCELLED}),
    _S.RUNNING: frozenset({_S.VALIDATING, _S.FAILED, _S.CANCELLED}),
    _S.VALIDATING: frozenset({_S.FINALIZING, _S.NEEDS_ATTENTION, _S.FAILED, _S.CANCELLED}),
    _S.FINALIZING: frozenset({_S.COMPLETE, _S.NEEDS_ATTENTION, _S.FAILED, _S.CANCELLED}),
    # A retry starts the validation loop again from the top.
    _S.NEEDS_ATTENTION: frozenset({_S.INITIALIZING, _S.CANCELLED}),
    _S.FAILED: frozenset({_S.INITIALIZING}),
    _S.CANCELLED: frozenset({_S.INITIALIZING}),
    _S.COMPLETE: frozenset(),
}

_C = ChildStatus
CHILD_TRANSITIONS: dict[ChildStatus, frozenset[ChildStatus]] = {
    _C.PENDING: frozenset({_C.DISPATCHED, _C.FAILED, _C.CANCELLED}),
    _C.DISPATCHED: frozenset(
        {_C.RUNNING, _C.SUCCEEDED, _C.FAILED, _C.CANCELLED, _C.TIMED_OUT}
    ),
    _C.RUNNING: frozenset({_C.SUCCEEDED, _C.FAILED, _C.CANCELLED, _C.TIMED_OUT}),
    # Validation can still turn an accepted result into a failure.
    _C.SUCCEEDED: frozenset({_C.FAILED}),
    _C.FAILED: frozenset({_C.PENDING}),
    _C.CANCELLED: frozenset({_C.PENDING}),
    _C.TIMED_OUT: frozenset({_C.PENDING}),
}


class InvalidTransition(ValueError):
    """A status change the transition table does not allow."""


def sources_for(target: SessionStatus) -> frozenset[SessionStatus]:
    """Return every session status from which `target` may be reached."""
    return frozenset(s for s, allowed in SESSION_TRANSITIONS.items() if target in allowed)


def child_sources_for(target: ChildStatus) -> frozenset[ChildStatus]:
    """Return every child status from which `target` may be reached."""
    return frozenset(s for s, allowed in CHILD_TRANSITIONS.items() if target in allowed)


def check_session_transition(current: SessionStatus, target: SessionStatus) -> None:
    """Raise InvalidTransition unless the table allows current → target."""
    if target not in SESSION_TRANSITIONS[current]:
        raise InvalidTransition(f"session cannot go from {current} to {target}")


def check_child_transition(current: ChildStatus, target: ChildStatus) -> None:
    """Raise InvalidTransition unless the table allows current → target."""
    if target not in CHILD_TRANSITIONS[current]:
        raise InvalidTransition(f"child cannot go from {current} to {target}")
