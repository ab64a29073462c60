"""One road for results: record a child's result (store only), then say what comes next.

The service's callback route and the local executor both call `record_result`; the route
runs what comes next in a queue task, the local command runs it at once (`bus.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from service.domain.progress import NextStep, all_rested, next_after
from service.domain.redaction import redact, safe_link
from service.domain.spend import Usage
from service.domain.states import ChildKind, ChildMoves, SessionMoves
from service.domain.wire import ChildResult
from service.orchestrator.errors import UnknownSession
from service.orchestrator.ports import (
    ChildFinish,
    ChildRecord,
    NotFound,
    SessionRecord,
    Store,
)


@dataclass(frozen=True)
class Recorded:
    """What recording a result did: 'accepted', 'duplicate' or 'replayed' (its token was
    used before), and what must follow."""

    outcome: str
    session_id: str
    next: NextStep = NextStep.NONE

    @property
    def accepted(self) -> bool:
        """Return True when this result was the child's first."""
        return self.outcome == "accepted"

    @property
    def task(self) -> str:
        """Return the queue task that carries out `next`: Finalize resumes through advance."""
        return "advance" if self.next == NextStep.FINALIZE else "fan_in"


def find_child(store: Store, child_id: str,
               repository: str | None = None) -> tuple[ChildRecord, SessionRecord]:
    """Return the child and its session, or raise UnknownSession (also another repo's)."""
    try:
        child, session = store.child_with_session(child_id)
    except NotFound:
        raise UnknownSession(f"no child {child_id!r}") from None
    if repository is not None and session.repository != repository:
        raise UnknownSession(f"no child {child_id!r} in {repository}")
    return child, session


def record_result(store: Store, child: ChildRecord, session: SessionRecord,
                  result: ChildResult, now: datetime, *,
                  token: tuple[str, datetime] | None = None,
                  clean: Callable[[str], str] = redact) -> Recorded:
    """Record the first result of a child in one write (`Store.finish_child`).

    With `token` (id, keep until) the token id is recorded first: a token used before
    records nothing ("replayed"). The write itself says how many children are still
    active, so of concurrent last results exactly one sees none.
    """
    # Whoever wrote the message, a secret in it is never stored; only https: links are kept.
    result = replace(result, message=clean(result.message), log_url=safe_link(result.log_url))
    result = replace(result, message=_naming_log(result, child.run_url))
    kind = ChildKind(child.kind)
    build = _verify_finish if kind == ChildKind.VERIFY else _component_finish
    with store.atomic():
        finished = store.finish_child(replace(build(child, session, result, now), token=token))
        if finished.moved and result.succeeded and result.bundle:
            store.save_bundle(child.id, result.bundle)  # taken in by Validate, not here
    if not finished.fresh_token:
        return Recorded("replayed", session.id)
    if not finished.moved:
        return Recorded("duplicate", session.id)
    return Recorded("accepted", session.id,
                    next_after(kind, finished.total - finished.active, finished.total,
                               budgeted=bool(session.budget),
                               waves=int(child.spec.get("waves") or 1)))


def _naming_log(result: ChildResult, run_url: str | None) -> str:
    """Return the message of a failed result with where its log is (DESIGN §4)."""
    link = result.log_url or safe_link(run_url)
    if result.succeeded or not link or link in result.message:
        return result.message
    return f"{result.message}; log: {link}" if result.message else f"log: {link}"


def _component_finish(child: ChildRecord, session: SessionRecord, result: ChildResult,
                      now: datetime) -> ChildFinish:
    usage = result.usage or Usage()
    # The run a child was dispatched in stays bound: a body's run_id never replaces it.
    fields = dict(
        commit=result.commit, attempts=result.attempts,
        tests_passed=result.tests.passed, tests_failed=result.tests.failed,
        tests_errors=result.tests.errors, tests_skipped=result.tests.skipped,
        changed_files=list(result.changed_files), message=result.message,
        finished_at=now, run_url=result.log_url or child.run_url,
        run_id=child.run_id or result.run_id, job_id=result.job_id or child.job_id,
        cost_usd=usage.cost_usd, input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens)
    step = "integration" if child.kind == ChildKind.INTEGRATION else "result"
    return ChildFinish(
        ChildMoves.SUCCEED if result.succeeded else ChildMoves.FAIL, child.id, session.id,
        fields, step, {"component": child.component, "status": result.status,
                       "commit": result.commit}, result.message, result.succeeded)


def _verify_finish(row: ChildRecord, session: SessionRecord, result: ChildResult,
                   now: datetime) -> ChildFinish:
    passed = result.succeeded and result.commit in (None, session.merged_commit)
    fields = dict(
        commit=session.merged_commit, attempts=1, tests_passed=result.tests.passed,
        tests_failed=result.tests.failed, tests_errors=result.tests.errors,
        tests_skipped=result.tests.skipped, message=result.message, finished_at=now,
        run_url=result.log_url or row.run_url)
    return ChildFinish(ChildMoves.SUCCEED if passed else ChildMoves.FAIL, row.id, session.id,
                       fields, "verify", {"commit": session.merged_commit}, result.message,
                       passed)


def start_validation(store: Store, session_id: str) -> bool:
    """Move a running session whose children all rest to validating; True for the winner.

    Compare-and-set: of all the threads or processes that get here, exactly one wins.
    """
    if not all_rested(store.child_status_counts(session_id)):
        return False
    return store.apply(SessionMoves.VALIDATE, session_id)
