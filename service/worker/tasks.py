"""Queue tasks: slow work the web process hands off. Arguments are plain JSON-able values."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from service.adapters.db.models import utcnow
from service.adapters.db.store import NotFound, Store
from service.adapters.queue import HueyQueue, InlineQueue, TaskQueue, make_huey
from service.config import Config
from service.domain.events import WorkflowJobCompleted
from service.domain.states import SessionStatus
from service.orchestrator.core import Orchestrator
from service.orchestrator.errors import BadInput
from service.worker.handlers import Handlers, Runtime, event_from_json

log = logging.getLogger(__name__)
S = SessionStatus
# Sessions in these statuses still have a step to run; reconcile nudges them.
MOVING = (S.PENDING, S.INITIALIZING, S.RUNNING, S.VALIDATING, S.FINALIZING)


@dataclass
class Services:
    """What a task needs: settings, the store, the GitHub runtime and the queue itself."""

    config: Config
    store: Store
    runtime: Runtime
    queue: TaskQueue | None = None


_installed: Services | None = None
_lock = threading.Lock()


def install(services: Services) -> None:
    """Make `services` the ones this process's queue tasks use."""
    global _installed
    _installed = services


def services() -> Services:
    """Return this process's services, building them from the environment the first time."""
    global _installed
    with _lock:
        if _installed is None:
            _installed = build_services(Config.from_env())
    return _installed


def build_services(config: Config, *, store: Store | None = None, runtime: Runtime | None = None,
                   queue: TaskQueue | None = None) -> Services:
    """Wire the store, the runtime and a Huey queue for `config`."""
    if store is None:
        from service.adapters.db.engine import make_engine

        store = Store(make_engine(config.service_database_url()))
    if runtime is None:
        from service.adapters.github.runtime import ServiceRuntime

        runtime = ServiceRuntime(config, store)
    built = Services(config, store, runtime, queue)
    if built.queue is None:
        built.queue = huey_queue(config, lambda: built)
    return built


def huey_queue(config: Config, context: Any = None) -> HueyQueue:
    """Return a HueyQueue with every task registered (also what `ccs worker` consumes)."""
    return HueyQueue(make_huey(config), TASKS, context or services,
                     periodic={"reconcile": config.reconcile_interval})


def worker_queue(config: Config) -> HueyQueue:
    """Return the queue a `ccs worker` consumes; its tasks build the services on first use."""
    built: list[Services] = []

    def context() -> Services:
        with _lock:
            if not built:
                built.append(build_services(config, queue=queue))
                install(built[0])
        return built[0]

    queue = huey_queue(config, context)
    return queue


def inline_queue(context: Any) -> InlineQueue:
    """Return a queue that runs tasks at once (tests)."""
    return InlineQueue(TASKS, context)


# Task bodies ------------------------------------------------------------------------


def handle_event(s: Services, event_json: dict) -> None:
    """Do what a webhook event asks."""
    try:
        Handlers(s.config, s.store, s.runtime).handle(event_from_json(event_json))
    except BadInput as error:
        log.info("event %s: %s", event_json.get("type"), error)


def _orchestrator(s: Services, session_id: str) -> Orchestrator | None:
    try:
        session = s.store.session(session_id)
    except NotFound:
        log.warning("task for unknown session %s", session_id)
        return None
    return s.runtime.orchestrator(session.repository, session.installation_id)


def advance(s: Services, session_id: str) -> None:
    """Run whatever step the session is waiting for (Initialize for a new one)."""
    orchestrator = _orchestrator(s, session_id)
    if orchestrator is not None:
        orchestrator.advance(session_id)


def fan_in(s: Services, session_id: str) -> None:
    """Start Validate if the session's last child just rested (exactly once)."""
    orchestrator = _orchestrator(s, session_id)
    if orchestrator is not None:
        orchestrator.reporter.session_changed(session_id)
        orchestrator.after_child_change(session_id)


def continue_after_verify(s: Services, session_id: str) -> None:
    """Go on with Finalize after the verify job reported."""
    orchestrator = _orchestrator(s, session_id)
    if orchestrator is not None:
        orchestrator.finalizer.continue_after_verify(session_id)


def retry(s: Services, session_id: str, repository: str) -> None:
    """Re-run what failed in a session."""
    orchestrator = _orchestrator(s, session_id)
    if orchestrator is not None:
        try:
            orchestrator.retry(session_id, repository=repository)
        except BadInput as error:
            log.info("retry %s: %s", session_id, error)


def cancel(s: Services, session_id: str, repository: str) -> None:
    """Cancel a session and its running children."""
    orchestrator = _orchestrator(s, session_id)
    if orchestrator is not None:
        orchestrator.cancel(session_id, repository=repository)


def reconcile(s: Services) -> None:
    """Recover lost results, time out silent children, nudge sessions that should move."""
    recover_lost_results(s)
    time_out_silent_children(s)
    # Only sessions quiet for a while: a fresh one is most likely being worked on right now.
    quiet = utcnow() - timedelta(seconds=s.config.reconcile_interval)
    for session_id in s.store.session_ids_in([m.value for m in MOVING], updated_before=quiet):
        (s.queue or inline_queue(lambda: s)).enqueue("advance", session_id)


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
        orchestrator = s.runtime.orchestrator(repository, installation_id)
        timed_out += orchestrator.time_out_silent_children(timeout, repository=repository)
    return timed_out


TASKS = {
    "handle_event": handle_event,
    "advance": advance,
    "fan_in": fan_in,
    "continue_after_verify": continue_after_verify,
    "retry": retry,
    "cancel": cancel,
    "reconcile": reconcile,
}
