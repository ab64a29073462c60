"""Retry, cancel and time-outs: the moves a user or the clock makes on a session."""

from __future__ import annotations

from datetime import timedelta

from service.domain.progress import retry_refusal
from service.domain.states import (
    CHILD_RERUN,
    ChildKind,
    ChildMoves,
    ChildStatus,
    SessionMoves,
    SessionStatus,
)
from service.orchestrator.context import Ports, specs_of
from service.orchestrator.errors import BadInput, SessionBusy
from service.orchestrator.ports import GitError, SessionRecord


def retry(ports: Ports, session_id: str, repository: str | None = None) -> bool:
    """Re-arm only what failed, from the base's current head; False when nothing to do."""
    session = ports.session(session_id, repository)
    refusal = retry_refusal(session.status)
    if refusal == "complete":
        return False
    if refusal == "busy":
        raise SessionBusy(f"session {session_id} is still {session.status}; wait for it "
                          f"to finish or cancel it first")
    try:
        new_base = ports.host.base_head(session.base_ref)
    except GitError as error:
        raise BadInput(f"base {session.base_ref!r} cannot be used: {error}",
                       code="bad_base") from None
    manifest = ports.manifest(new_base, session.manifest_path)
    specs = specs_of(ports.components(session, new_base),
                     manifest.context(session.context).description)
    # A retry starts a fresh budget, read from the manifest at the new base.
    budget = manifest.budget.to_json() if manifest.budget else None
    if not ports.store.apply(SessionMoves.RETRY, session_id, base_sha=new_base,
                             round=session.round + 1, merged_commit=None, message="",
                             budget=budget):
        raise SessionBusy(f"session {session_id} changed while retrying; try again")
    session = ports.store.session(session_id)
    # A new round merges anew, so the merged tree must be verified (and integrated) anew too.
    ports.store.delete_children(session_id, kind=ChildKind.VERIFY)
    ports.store.delete_children(session_id, kind=ChildKind.INTEGRATION)
    for child in ports.store.children(session_id):
        if ChildStatus(child.status) in CHILD_RERUN:
            ports.store.apply(
                ChildMoves.RETRY, child.id, spec=specs.get(child.component, child.spec),
                round=session.round,
                start_sha=new_base, commit=None, attempts=0, tests_passed=0, tests_failed=0,
                tests_errors=0, tests_skipped=0, changed_files=None, message="",
                run_id=None, job_id=None, run_url=None, finished_at=None, cost_usd=0.0,
                input_tokens=0, output_tokens=0)
    ports.store.log(session_id, "retry", {"round": session.round}, f"base now {new_base[:12]}")
    return True


def cancel(ports: Ports, session_id: str, repository: str | None = None) -> SessionRecord:
    """Stop a session and its running children; a retry resumes it later."""
    session = ports.session(session_id, repository)
    if session.status in (SessionStatus.COMPLETE, SessionStatus.CANCELLED):
        return session
    ports.store.apply(SessionMoves.CANCEL, session_id, message="cancelled")
    # Mark the children first: a job stopped by executor.cancel reports a failure at
    # once, and that result must find its child already cancelled (a duplicate).
    active = [c for c in ports.store.children(session_id, kind=None)
              if ChildStatus(c.status) in ChildMoves.CANCEL.sources
              and ports.store.apply(ChildMoves.CANCEL, c.id, message="cancelled")]
    if active:
        ports.executor.cancel(session, active)
    ports.store.log(session_id, "cancel", "", f"cancelled {len(active)} child(ren)")
    ports.reporter.session_changed(session_id)
    return ports.store.session(session_id)


def time_out_silent_children(ports: Ports, timeout_seconds: int,
                             repository: str | None = None) -> list[tuple[str, str]]:
    """Mark children silent past the timeout timed out; return (child id, session id) pairs.

    A timed-out verify job parks its session; a timed-out component leaves the fan-in to
    the caller, which checks every returned session.
    """
    now = ports.clock.now()
    cutoff = now - timedelta(seconds=timeout_seconds)
    timed_out = []
    for child in ports.store.silent_children(cutoff, repository):
        message = (f"{child.component}: no result after {timeout_seconds} s; the job may "
                   "have died. Retry to run it again.")
        if ports.store.apply(ChildMoves.TIME_OUT, child.id, message=message, finished_at=now):
            timed_out.append((child.id, child.session_id))
            ports.store.log(child.session_id, "timeout", child.component, message, ok=False)
            # A silent job may still hold a runner: stop it (its late result is a duplicate).
            ports.executor.cancel(ports.store.session(child.session_id), [child])
            if child.kind in (ChildKind.VERIFY, ChildKind.INTEGRATION):
                ports.rest(child.session_id, SessionMoves.NEED_ATTENTION, message)
    return timed_out
