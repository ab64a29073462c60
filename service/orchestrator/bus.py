"""The one command entry: every surface (CLI, API, comments, callbacks, local runners) builds
a typed command and hands it to `MessageBus.handle`, which looks its handler up in one table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.domain.commands import CancelSession, RecordChildResult, RetrySession, StartSession
from service.domain.progress import NextStep
from service.orchestrator import lifecycle
from service.orchestrator.advance import advance, carry_on
from service.orchestrator.budget import enforce_budget
from service.orchestrator.context import Ports
from service.orchestrator.errors import BadInput
from service.orchestrator.initialize import record_session
from service.orchestrator.ports import SessionRecord
from service.orchestrator.results import Recorded, find_child, record_result

Defer = Callable[[str, str], None]
"""Hand a follow-up to a queue: (task name, session id). Task names: advance, fan_in."""


class MessageBus:
    """Runs commands against one repository's ports; follow-up steps run inline, or are
    deferred to a queue when `defer` is given (a web request must not run them)."""

    def __init__(self, ports: Ports, defer: Defer | None = None) -> None:
        self.ports = ports
        self.defer = defer

    def handle(self, command: Any) -> Any:
        """Run one command through its handler and return what the handler returns."""
        handler = HANDLERS.get(type(command))
        if handler is None:
            raise BadInput(f"no handler for {type(command).__name__}", code="bad_command")
        return handler(self, command)

    def then(self, task: str, session_id: str, next_step: NextStep | None = None) -> None:
        """Run (or defer) what follows a command: 'advance', or the next step of a result."""
        if self.defer is not None:
            self.defer(task, session_id)
        elif next_step is not None:
            carry_on(self.ports, session_id, next_step)
        else:
            advance(self.ports, session_id)

    # Steps the queue and the local command call directly -----------------------------

    def advance(self, session_id: str) -> None:
        """Run whatever step the session waits for."""
        advance(self.ports, session_id)

    def fan_in(self, session_id: str) -> None:
        """Tell people about progress and start Validate if every child rests."""
        carry_on(self.ports, session_id, NextStep.FAN_IN)

    def check_budget(self, session_id: str) -> bool:
        """Enforce the session's budget now (its minutes pass without any result)."""
        return enforce_budget(self.ports, session_id)

    def time_out_silent_children(self, timeout_seconds: int,
                                 repository: str | None = None) -> list[str]:
        """Time out silent children, fan in where that rested a session; return child ids."""
        timed_out = lifecycle.time_out_silent_children(self.ports, timeout_seconds, repository)
        for session_id in dict.fromkeys(session for _, session in timed_out):
            # A timed-out child may cancel what needs it, or let the next wave start.
            carry_on(self.ports, session_id, NextStep.WAVE)
        return [child for child, _ in timed_out]


def start_session(bus: MessageBus, command: StartSession) -> SessionRecord:
    """Record the session, then Initialize and Spawn it (or queue that)."""
    session = record_session(bus.ports, command)
    bus.then("advance", session.id)
    return bus.ports.store.session(session.id)


def retry_session(bus: MessageBus, command: RetrySession) -> SessionRecord:
    """Re-run only what failed (a complete session is left as it is)."""
    session_id = _session_id(command)
    if lifecycle.retry(bus.ports, session_id, command.repository or None):
        bus.then("advance", session_id)
    return bus.ports.store.session(session_id)


def cancel_session(bus: MessageBus, command: CancelSession) -> SessionRecord:
    """Stop the session and its running children."""
    return lifecycle.cancel(bus.ports, _session_id(command), command.repository or None)


def record_child_result(bus: MessageBus, command: RecordChildResult) -> Recorded:
    """Record a child's first result, then do (or queue) what it says comes next."""
    store = bus.ports.store
    child, session = find_child(store, command.child_id, command.repository)
    recorded = record_result(store, child, session, command.result, bus.ports.clock.now(),
                             clean=bus.ports.redact)
    if recorded.accepted and recorded.next != NextStep.NONE:
        bus.then(recorded.task, session.id, recorded.next)
    return recorded


def _session_id(command: RetrySession | CancelSession) -> str:
    if not command.session_id:
        raise BadInput("name the session (its id)", code="not_found", status=404)
    return command.session_id


HANDLERS: dict[type, Callable[[MessageBus, Any], Any]] = {
    StartSession: start_session,
    RetrySession: retry_session,
    CancelSession: cancel_session,
    RecordChildResult: record_child_result,
}
