"""Session budgets (DESIGN §3a): past the spend or the minutes, stop every running child."""

from __future__ import annotations

from datetime import UTC, datetime

from service.domain.spend import Budget
from service.domain.states import ChildMoves, ChildStatus, SessionMoves, SessionStatus
from service.orchestrator.context import Ports


def enforce_budget(ports: Ports, session_id: str) -> bool:
    """Cancel the children not at rest and park the session when its budget is passed.

    Return True when this call tripped it. The move running → needs_attention is a
    compare-and-set, so a budget tripping while the last results race the fan-in (running →
    validating) leaves exactly one of them to act.
    """
    session = ports.store.session(session_id)
    budget = Budget.from_json(session.budget)
    if budget is None or session.status != SessionStatus.RUNNING:
        return False
    spent = ports.store.usage(session_id, session.round).cost_usd
    reason = budget.exceeded(spent, minutes_since(session.spawned_at, ports.clock.now()))
    if reason is None:
        return False
    retry = ports.retry_command.format(session=session_id)
    message = (f"{reason}. Every child still running was cancelled. Raise the budget in the "
               f"manifest (or make the work cheaper), then run `{retry}`; a retry starts a "
               "fresh budget.")
    if not ports.store.apply(SessionMoves.EXCEED_BUDGET, session_id, message=message):
        return False
    stopped = [c for c in ports.store.children(session_id, kind=None)
               if ChildStatus(c.status) in ChildMoves.CANCEL.sources
               and ports.store.apply(ChildMoves.CANCEL, c.id,
                                     message=f"{c.component}: cancelled: {reason}")]
    if stopped:
        ports.executor.cancel(session, stopped)
    ports.store.log(session_id, "budget", budget.to_json(), message, ok=False)
    ports.reporter.session_changed(session_id)
    return True


def minutes_since(start: datetime | None, now: datetime) -> float:
    """Return the minutes from `start` (naive times are UTC, as SQLite returns them)."""
    if start is None:
        return 0.0
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return max(0.0, (now - start).total_seconds() / 60)
