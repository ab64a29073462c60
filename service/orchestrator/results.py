"""Recording a child's result: the store-only part of taking a result (no git, no GitHub).

The orchestrator (local mode, webhooks) and the service's callback route both record results
through `ResultRecorder`, so there is one code path for "first terminal result wins". The
callback route needs nothing else in the request; fan-in runs later, in a queue task.
"""

from __future__ import annotations

from service.adapters.db.models import ChildRow, SessionRow, utcnow
from service.adapters.db.store import Store
from service.domain.states import CHILD_ACTIVE, ChildStatus
from service.domain.wire import ChildResult

C = ChildStatus


class ResultRecorder:
    """Compare-and-set a child's terminal status and log it, in one transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, child: ChildRow, session: SessionRow, result: ChildResult) -> str:
        """Return 'accepted', or 'duplicate' when the child already has a result."""
        with self.store.atomic():
            if child.kind == "verify":
                return self._record_verify(child, session, result)
            return self._record_component(child, session, result)

    def _record_component(self, child: ChildRow, session: SessionRow,
                          result: ChildResult) -> str:
        target = C.SUCCEEDED if result.succeeded else C.FAILED
        moved = self.store.move_child(
            child.id, target, only_from=CHILD_ACTIVE, commit=result.commit,
            attempts=result.attempts, tests_passed=result.tests.passed,
            tests_failed=result.tests.failed, tests_errors=result.tests.errors,
            tests_skipped=result.tests.skipped, changed_files=list(result.changed_files),
            message=result.message, finished_at=utcnow(),
            run_url=result.log_url or child.run_url,
            run_id=result.run_id or child.run_id, job_id=result.job_id or child.job_id,
        )
        if not moved:
            return "duplicate"
        self.store.log(session.id, "result", {"component": child.component,
                                              "status": result.status,
                                              "commit": result.commit},
                       result.message, ok=result.succeeded)
        return "accepted"

    def _record_verify(self, row: ChildRow, session: SessionRow, result: ChildResult) -> str:
        passed = result.succeeded and result.commit in (None, session.merged_commit)
        moved = self.store.move_child(
            row.id, C.SUCCEEDED if passed else C.FAILED, only_from=CHILD_ACTIVE,
            commit=session.merged_commit, attempts=1, tests_passed=result.tests.passed,
            tests_failed=result.tests.failed, tests_errors=result.tests.errors,
            tests_skipped=result.tests.skipped, message=result.message, finished_at=utcnow(),
            run_url=result.log_url or row.run_url,
        )
        if not moved:
            return "duplicate"
        self.store.log(session.id, "verify", {"commit": session.merged_commit},
                       result.message, ok=passed)
        return "accepted"
