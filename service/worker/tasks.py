"""Queue tasks: slow work the web process hands off. Arguments are plain JSON-able values."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from service.adapters.db.models import utcnow
from service.adapters.db.store import NotFound
from service.config.log_format import log_context
from service.domain.commands import CancelSession, RetrySession
from service.domain.events import WorkflowJobCompleted
from service.domain.states import SessionStatus
from service.orchestrator.bus import MessageBus
from service.orchestrator.errors import BadInput
from service.worker.handlers import Handlers, event_from_json

if TYPE_CHECKING:
    from service.bootstrap import Services

log = logging.getLogger(__name__)
S = SessionStatus
# Sessions in these statuses still have a step to run; reconcile nudges them.
MOVING = (S.PENDING, S.INITIALIZING, S.RUNNING, S.VALIDATING, S.FINALIZING)


# Task bodies ------------------------------------------------------------------------


def handle_event(s: Services, delivery: str) -> None:
    """Do what a recorded webhook delivery asks, then mark it done (at most once done).

    The event comes from the inbox, not the queue, so a task lost with its process is
    re-driven by reconcile; the handlers are idempotent (one session per delivery line).
    """
    payload = s.store.event_payload(delivery)
    if payload is None:
        return  # done already, or never recorded
    try:
        Handlers(s.config, s.store, s.runtime).handle(event_from_json(payload))
    except BadInput as error:
        log.info("event %s: %s", payload.get("type"), error)
    s.store.mark_event_done(delivery)


def redrive_events(s: Services, older_than_seconds: int) -> list[str]:
    """Queue again every delivery whose effect was never recorded; return their ids."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    pending = s.store.pending_events(cutoff)
    for delivery in pending:
        s.defer("handle_event", delivery)
    return pending


def resume(s: Services, _started: int = 0) -> dict[str, int]:
    """At worker start: do every answered delivery left without effect, then run the step of
    every session that should move, one after the other (DESIGN §8: it resumes on restart).

    A killed process's queue task died with it; waiting for the periodic reconcile would
    leave the session stalled for up to a minute. In this one task nothing races itself.
    """
    events = s.store.pending_events(utcnow())
    for delivery in events:
        _survive(f"delivery {delivery}", handle_event, s, delivery)
    sessions = s.store.session_ids_in([m.value for m in MOVING])
    for session_id in sessions:
        _survive(f"session {session_id}", advance, s, session_id)
    return {"events": len(events), "sessions": len(sessions)}


def _survive(what: str, body: Any, *args: Any) -> None:
    """Run one piece of start-up work; one that fails is logged and reconcile tries again."""
    try:
        body(*args)
    except Exception:
        log.exception("resuming %s failed; the periodic reconcile tries again", what)


def _bus(s: Services, session_id: str) -> MessageBus | None:
    try:
        session = s.store.session(session_id)
    except NotFound:
        log.warning("task for unknown session %s", session_id)
        return None
    return s.bus(session.repository, session.installation_id)


def advance(s: Services, session_id: str) -> None:
    """Run whatever step the session is waiting for (Initialize for a new one)."""
    bus = _bus(s, session_id)
    if bus is not None:
        bus.advance(session_id)


def fan_in(s: Services, session_id: str) -> None:
    """Tell people about progress; start Validate if the last child just rested (once)."""
    bus = _bus(s, session_id)
    if bus is not None:
        bus.fan_in(session_id)


def retry(s: Services, session_id: str, repository: str) -> None:
    """Re-run what failed in a session."""
    bus = _bus(s, session_id)
    if bus is not None:
        try:
            bus.handle(RetrySession(repository=repository, session_id=session_id))
        except BadInput as error:
            log.info("retry %s: %s", session_id, error)


def cancel(s: Services, session_id: str, repository: str) -> None:
    """Cancel a session and its running children."""
    bus = _bus(s, session_id)
    if bus is not None:
        bus.handle(CancelSession(repository=repository, session_id=session_id))


def reconcile(s: Services) -> None:
    """Recover lost results, time out silent children, nudge sessions that should move."""
    redrive_events(s, s.config.reconcile_interval)
    recover_lost_results(s)
    time_out_silent_children(s)
    # Only sessions quiet for a while: a fresh one is most likely being worked on right now.
    quiet = utcnow() - timedelta(seconds=s.config.reconcile_interval)
    for session_id in s.store.session_ids_in([m.value for m in MOVING], updated_before=quiet):
        s.defer("advance", session_id)


def recover_lost_results(s: Services) -> int:
    """Ask GitHub about runs whose children went quiet; fail those whose job ended unreported.

    A finished job's webhook can be lost just like its callback. One call per run (never
    one per child) finds out, and the webhook's own handler does the rest.
    """
    quiet = utcnow() - timedelta(seconds=s.config.reconcile_interval)
    handlers = Handlers(s.config, s.store, s.runtime)
    finished = 0
    for repository, installation_id in s.store.repositories_with_silent_children(quiet):
        runs = {c.run_id for c in s.store.silent_children(quiet, repository) if c.run_id}
        try:
            github = s.runtime.github(repository, installation_id)
            for run_id in sorted(runs):
                for job in github.run_jobs(run_id):
                    if job.get("status") == "completed":
                        handlers.on_job_completed(_job_event(repository, installation_id,
                                                             run_id, job))
                        finished += 1
        except Exception:
            log.exception("reconcile could not read the runs of %s", repository)
    return finished


def _job_event(repository: str, installation_id: int | None, run_id: int,
               job: dict[str, Any]) -> WorkflowJobCompleted:
    return WorkflowJobCompleted(
        delivery="reconcile", repository=repository, installation_id=installation_id,
        run_id=run_id, job_id=int(job.get("id") or 0), job_name=str(job.get("name") or ""),
        conclusion=job.get("conclusion"), html_url=job.get("html_url"), run_attempt=1)


def time_out_silent_children(s: Services) -> list[str]:
    """Mark children silent past CCS_CHILD_TIMEOUT timed out, per repository.

    Fan-in after a timeout needs the git mirror of the child's own repository, so each
    repository's children go through that repository's orchestrator.
    """
    timeout = s.config.child_timeout
    cutoff = utcnow() - timedelta(seconds=timeout)
    timed_out: list[str] = []
    for repository, installation_id in s.store.repositories_with_silent_children(cutoff):
        bus = s.bus(repository, installation_id)
        timed_out += bus.time_out_silent_children(timeout, repository=repository)
    return timed_out


def _logged(key: str, body: Callable[..., Any]) -> Callable[..., Any]:
    """Return `body` with its first argument bound as the log lines' `key` (DESIGN §7)."""
    @functools.wraps(body)
    def run(s: Services, *args: Any) -> Any:
        with log_context(**{key: str(args[0])} if args else {}):
            return body(s, *args)
    return run


TASKS = {
    "handle_event": _logged("delivery", handle_event),
    "redrive": redrive_events,
    "resume": resume,
    "advance": _logged("session", advance),
    "fan_in": _logged("session", fan_in),
    "retry": _logged("session", retry),
    "cancel": _logged("session", cancel),
    "reconcile": reconcile,
}
