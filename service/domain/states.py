"""Session and child-session statuses and the transitions allowed between them."""

from __future__ import annotations

from dataclasses import dataclass
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

_S, _C = SessionStatus, ChildStatus


class ChildKind(StrEnum):
    """What a child row stands for; stored as text."""

    COMPONENT = "component"  # one component's job
    VERIFY = "verify"  # the whole-suite verify job on the merged tree
    INTEGRATION = "integration"  # coder rounds on the merged tree after verify failed (§3b)


@dataclass(frozen=True)
class SessionMove:
    """A named session transition: from any of `sources` to `target`."""

    name: str
    sources: frozenset[SessionStatus]
    target: SessionStatus


@dataclass(frozen=True)
class ChildMove:
    """A named child transition: from any of `sources` to `target`."""

    name: str
    sources: frozenset[ChildStatus]
    target: ChildStatus

    @property
    def active_change(self) -> int:
        """Return how the move changes the count of children not at rest: -1, 0 or +1.

        Every named move starts from statuses that all rest or all do not (a test keeps
        it so), so the change does not depend on which source the child was in.
        """
        source_active = not next(iter(self.sources)).is_terminal
        return int(not self.target.is_terminal) - int(source_active)


_MOVING = frozenset({_S.PENDING, _S.INITIALIZING, _S.RUNNING, _S.VALIDATING, _S.FINALIZING})


class SessionMoves:
    """Every session transition a step makes, by name (the diagram is generated from these)."""

    INITIALIZE = SessionMove("initialize", frozenset({_S.PENDING}), _S.INITIALIZING)
    RETRY = SessionMove("retry", frozenset({_S.NEEDS_ATTENTION, _S.FAILED, _S.CANCELLED}),
                        _S.INITIALIZING)
    RUN = SessionMove("run", frozenset({_S.INITIALIZING}), _S.RUNNING)
    VALIDATE = SessionMove("validate", frozenset({_S.RUNNING}), _S.VALIDATING)
    FINALIZE = SessionMove("finalize", frozenset({_S.VALIDATING}), _S.FINALIZING)
    COMPLETE = SessionMove("complete", frozenset({_S.FINALIZING}), _S.COMPLETE)
    NEED_ATTENTION = SessionMove("need attention", frozenset({_S.VALIDATING, _S.FINALIZING}),
                                 _S.NEEDS_ATTENTION)
    # A budget passed while children run: they are cancelled, and a retry starts afresh.
    EXCEED_BUDGET = SessionMove("exceed budget", frozenset({_S.RUNNING}), _S.NEEDS_ATTENTION)
    FAIL = SessionMove("fail", _MOVING, _S.FAILED)
    CANCEL = SessionMove("cancel", _MOVING | {_S.NEEDS_ATTENTION}, _S.CANCELLED)

    @classmethod
    def all(cls) -> tuple[SessionMove, ...]:
        """Return every named session transition."""
        return tuple(v for v in vars(cls).values() if isinstance(v, SessionMove))


class ChildMoves:
    """Every child transition a step or an executor makes, by name."""

    DISPATCH = ChildMove("dispatch", frozenset({_C.PENDING}), _C.DISPATCHED)
    START = ChildMove("start", frozenset({_C.DISPATCHED}), _C.RUNNING)
    SUCCEED = ChildMove("succeed", CHILD_ACTIVE, _C.SUCCEEDED)
    FAIL = ChildMove("fail", CHILD_ACTIVE, _C.FAILED)
    # A dispatch GitHub refused for good: the child never ran.
    FAIL_DISPATCH = ChildMove("fail dispatch", frozenset({_C.PENDING, _C.DISPATCHED}),
                              _C.FAILED)
    # Validation (or a merge conflict) can still turn an accepted result into a failure.
    FAIL_VALIDATION = ChildMove("fail validation", frozenset({_C.SUCCEEDED}), _C.FAILED)
    TIME_OUT = ChildMove("time out", CHILD_ACTIVE, _C.TIMED_OUT)
    CANCEL = ChildMove("cancel", CHILD_ACTIVE | {_C.PENDING}, _C.CANCELLED)
    RETRY = ChildMove("retry", CHILD_RERUN, _C.PENDING)

    @classmethod
    def all(cls) -> tuple[ChildMove, ...]:
        """Return every named child transition."""
        return tuple(v for v in vars(cls).values() if isinstance(v, ChildMove))


def _table(statuses: type, moves: tuple) -> dict:
    """Return status -> the targets the named moves allow from it."""
    table: dict = {s: set() for s in statuses}
    for move in moves:
        for source in move.sources:
            table[source].add(move.target)
    return {s: frozenset(targets) for s, targets in table.items()}


# The tables every status check uses, derived from the named moves above.
SESSION_TRANSITIONS: dict[SessionStatus, frozenset[SessionStatus]] = _table(
    SessionStatus, SessionMoves.all())
CHILD_TRANSITIONS: dict[ChildStatus, frozenset[ChildStatus]] = _table(ChildStatus,
                                                                      ChildMoves.all())


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


def mermaid(moves: tuple[SessionMove, ...] | tuple[ChildMove, ...], start: str,
            end: str | None = None) -> str:
    """Return a Mermaid state diagram of the named moves (one edge per source and target,
    labelled with the names of the moves that make it)."""
    edges: dict[tuple[str, str], list[str]] = {}
    order = [s.value for s in (SessionStatus if isinstance(moves[0], SessionMove)
                               else ChildStatus)]
    for move in moves:
        for source in move.sources:
            edges.setdefault((source.value, move.target.value), []).append(move.name)
    lines = ["stateDiagram-v2", f"    [*] --> {start}"]
    for source, target in sorted(edges, key=lambda e: (order.index(e[0]), order.index(e[1]))):
        lines.append(f"    {source} --> {target}: {', '.join(sorted(edges[source, target]))}")
    if end:
        lines.append(f"    {end} --> [*]")
    return "\n".join(lines)


def session_diagram() -> str:
    """Return the session state diagram docs/architecture.md shows."""
    return mermaid(SessionMoves.all(), "pending", "complete")


def child_diagram() -> str:
    """Return the child state diagram docs/architecture.md shows."""
    return mermaid(ChildMoves.all(), "pending")


if __name__ == "__main__":  # python -m service.domain.states: print both diagrams
    print(f"```mermaid\n{session_diagram()}\n```\n\n```mermaid\n{child_diagram()}\n```")
