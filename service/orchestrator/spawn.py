"""Spawn: hand every pending child of a running session to the executor, never one twice."""

from __future__ import annotations

from service.domain.states import ChildStatus, SessionStatus
from service.orchestrator.context import Ports
from service.orchestrator.waves import next_wave


def spawn(ports: Ports, session_id: str, report: bool = True) -> None:
    """Dispatch the pending children of the next dependency wave (all of them when nothing
    needs anything); the executor moves each pending → dispatched by CAS."""
    session = ports.store.session(session_id)
    if session.status != SessionStatus.RUNNING:
        return
    # Every progress milestone comes here; with nothing pending (one wave, all dispatched)
    # a count answers it without reading every child of the session.
    counts = ports.store.child_status_counts(session_id)
    pending = next_wave(ports, session) if counts.get(ChildStatus.PENDING.value) else []
    if pending:
        ports.store.log(session_id, "spawn", [c.component for c in pending],
                        f"dispatching {len(pending)} child(ren)")
        ports.executor.dispatch(session, pending, ports.session_manifest(session).job_config())
    if report:
        ports.reporter.session_changed(session_id)


def resume_dispatch(ports: Ports, session_id: str) -> None:
    """Finish sends a crash left half-done, then dispatch what is still pending."""
    session = ports.store.session(session_id)
    # A crash between recording a dispatch and sending it leaves children dispatched with
    # no job; the executor knows which sends are unfinished.
    ports.executor.resume(session, ports.session_manifest(session).job_config())
    spawn(ports, session_id)
