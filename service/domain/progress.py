"""What a recorded result means for the session: the pure fan-in and progress rules."""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum

from service.domain.states import ChildKind, ChildStatus, SessionStatus

# While children run, tell people about progress about this many times whatever N is
# (DESIGN §8: API calls per session are O(1) in the number of components).
PROGRESS_EDITS = 10


class NextStep(StrEnum):
    """What must happen after a child's result was recorded."""

    NONE = "none"  # other children are still running; nothing worth telling yet
    REPORT = "report"  # a progress milestone: tell people (and check the fan-in)
    FAN_IN = "fan_in"  # every child rested: Validate, exactly once (compare-and-set)
    FINALIZE = "finalize"  # the verify or integration job reported: go on with Finalize
    BUDGET = "budget"  # the session has a budget: count the spend (and check the fan-in)
    WAVE = "wave"  # later dependency waves wait: cancel or dispatch them (DESIGN §3b)


def rested(counts: Mapping[str, int]) -> int:
    """Return how many children in the status counts are at rest."""
    return sum(n for status, n in counts.items() if ChildStatus(status).is_terminal)


def all_rested(counts: Mapping[str, int]) -> bool:
    """Return True when no child in the status counts is still pending or active."""
    return rested(counts) == sum(counts.values())


def milestone_step(total: int) -> int:
    """Return how many children must rest between two progress reports."""
    return max(1, math.ceil(total / PROGRESS_EDITS))


def next_after(kind: ChildKind, done: int, total: int, budgeted: bool = False,
               waves: int = 1) -> NextStep:
    """Return what follows an accepted result, given how many of the session's `total`
    component children rest (`done`), the result's own child included, and how many
    dependency waves the session has.

    Counted in the result's own write, in turns on the session row, so the last result to
    be written always sees every child rested (and the compare-and-set keeps Validate to
    one in any case).
    """
    if kind in (ChildKind.VERIFY, ChildKind.INTEGRATION):
        return NextStep.FINALIZE
    if done == total:
        return NextStep.FAN_IN
    # Every child of a wave is dispatched at once, so while children rest in a session of
    # several waves, what rested may let the next wave start, or cancel what needs it.
    if waves > 1:
        return NextStep.WAVE
    if done % milestone_step(total) == 0:
        return NextStep.REPORT
    # DESIGN §3a: a session's spend is counted at least whenever a child reports.
    return NextStep.BUDGET if budgeted else NextStep.NONE


def retry_refusal(status: str) -> str | None:
    """Return why a session in `status` cannot be retried now ("complete" is a no-op)."""
    current = SessionStatus(status)
    if current == SessionStatus.COMPLETE:
        return "complete"
    if not current.is_terminal:
        return "busy"
    return None


def cancel_refusal(status: str) -> str | None:
    """Return why a session in `status` cannot be cancelled (it already rests for good)."""
    if SessionStatus(status) in (SessionStatus.COMPLETE, SessionStatus.CANCELLED):
        return "finished"
    return None


PRUNABLE = (SessionStatus.COMPLETE, SessionStatus.FAILED, SessionStatus.CANCELLED)


def prune_refusal(status: str) -> str | None:
    """Return why `ccs prune` keeps everything of a session in `status` (None: prune it)."""
    current = SessionStatus(status)
    if current == SessionStatus.NEEDS_ATTENTION:
        return "needs attention: a retry reuses its branches and logs"
    if current not in PRUNABLE:
        return f"still {current.value}"
    return None


def prune_keeps_session_branch(status: str) -> bool:
    """Return True when pruning keeps the session branch: a complete session's is the work."""
    return SessionStatus(status) == SessionStatus.COMPLETE
