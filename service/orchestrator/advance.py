"""Advance: run whatever step a session waits for; the table maps a status to its step."""

from __future__ import annotations

from collections.abc import Callable

from service.domain.progress import NextStep
from service.domain.states import SessionStatus
from service.orchestrator.budget import enforce_budget
from service.orchestrator.context import Ports
from service.orchestrator.finalize import finalize
from service.orchestrator.initialize import initialize
from service.orchestrator.results import start_validation
from service.orchestrator.spawn import resume_dispatch, spawn
from service.orchestrator.validate import validate


def run_initialize(ports: Ports, session_id: str) -> None:
    """Initialize, then Spawn (and fan in at once if no child needs to run)."""
    if initialize(ports, session_id):
        spawn(ports, session_id)
        fan_in(ports, session_id)


def run_running(ports: Ports, session_id: str) -> None:
    """Check the budget, finish half-sent dispatches, dispatch what is pending, fan in."""
    if enforce_budget(ports, session_id):
        return
    resume_dispatch(ports, session_id)
    fan_in(ports, session_id)


def run_validate(ports: Ports, session_id: str) -> None:
    """Validate, then Finalize when every child passed."""
    if validate(ports, session_id):
        finalize(ports, session_id)


def fan_in(ports: Ports, session_id: str) -> None:
    """Start Validate exactly once, when the last child of a running session rests."""
    if start_validation(ports.store, session_id):
        run_validate(ports, session_id)


STEPS: dict[SessionStatus, Callable[[Ports, str], None]] = {
    SessionStatus.PENDING: run_initialize,
    SessionStatus.INITIALIZING: run_initialize,
    SessionStatus.RUNNING: run_running,
    SessionStatus.VALIDATING: run_validate,
    SessionStatus.FINALIZING: finalize,
}


def advance(ports: Ports, session_id: str) -> None:
    """Resume a session left mid-step (after a crash) without repeating finished work."""
    step = STEPS.get(SessionStatus(ports.store.session(session_id).status))
    if step is not None:
        step(ports, session_id)


def carry_on(ports: Ports, session_id: str, next_step: NextStep) -> None:
    """Do what a recorded result said must follow (inline, or from a queue task)."""
    if next_step == NextStep.FINALIZE:
        advance(ports, session_id)
    elif next_step in (NextStep.REPORT, NextStep.FAN_IN, NextStep.BUDGET, NextStep.WAVE):
        if enforce_budget(ports, session_id):
            return
        # A rested child may start the next dependency wave, or cancel what needs it.
        spawn(ports, session_id, report=False)
        ports.reporter.session_changed(session_id)
        fan_in(ports, session_id)
