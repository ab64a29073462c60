"""The Finalize step: merge, verify on the merged tree, publish, open the pull request."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from service.adapters.db.models import ChildRow, SessionRow, utcnow
from service.adapters.git_repo import GitError
from service.domain.names import staging_branch
from service.domain.states import ChildStatus, SessionStatus
from service.orchestrator.errors import BadInput
from service.orchestrator.merge import MergeConflict, finalize_message, merge_children
from service.orchestrator.ports import Verifier

if TYPE_CHECKING:
    from service.orchestrator.core import Orchestrator

S, C = SessionStatus, ChildStatus
VERIFY_ROW = "_verify"  # not a valid component name, so it never collides with one


class Finalizer:
    """Runs Finalize; resumable at every point because each part checks what is done."""

    def __init__(self, orchestrator: Orchestrator, verifier: Verifier | None) -> None:
        self.o = orchestrator
        self.verifier = verifier

    def finalize(self, session_id: str) -> None:
        """Merge, verify, publish and complete the session (idempotent)."""
        store = self.o.store
        session = store.session(session_id)
        if session.status != S.FINALIZING:
            return
        try:
            manifest = self.o.manifest(session.base_sha, session.manifest_path)
            children = store.children(session_id)
            if not session.merged_commit:
                merged = merge_children(self.o.git, session.base_sha, children,
                                        finalize_message(session.context, children))
                if isinstance(merged, MergeConflict):
                    self._conflict(session, merged)
                    return
                store.update_session(session_id, merged_commit=merged.commit)
                store.log(session_id, "merge", [c.component for c in children], merged.commit)
                session = store.session(session_id)
            if manifest.verify and not self._verified(session, manifest):
                return
            self.o.host.publish(session, session.merged_commit)
            url = None
            if manifest.push_pull_request:
                url = self.o.host.open_pull_request(
                    session, f"Implement {session.context} context",
                    pull_request_body(session, children), manifest.draft_pull_request)
        except (BadInput, GitError) as error:
            self.o._rest(session_id, S.NEEDS_ATTENTION, f"finalize failed: {error}")
            return
        summary = (f"finalized: {len(children)} component(s) merged into {session.branch} at "
                   f"{session.merged_commit[:12]}" + (" and pushed" if session.push else ""))
        if store.move_session(session_id, S.COMPLETE, final_commit=session.merged_commit,
                              pull_request_url=url, message=summary):
            store.log(session_id, "complete", {"pull_request": url}, summary)
        self.o.reporter.session_changed(session_id)

    def _conflict(self, session: SessionRow, conflict: MergeConflict) -> None:
        message = conflict.message()
        self.o.store.move_child(conflict.child.id, C.FAILED, only_from=[C.SUCCEEDED],
                                message=message)
        self.o._rest(session.id, S.NEEDS_ATTENTION, self.o._attention(session, [
            _finding(conflict.child.component, message)]))

    def _verified(self, session: SessionRow, manifest) -> bool:
        """Return True once verify passed on the merged commit; start or report it otherwise."""
        row = self._verify_row(session)
        if row.status == C.SUCCEEDED and row.commit == session.merged_commit:
            return True
        if row.status == C.FAILED and row.commit == session.merged_commit:
            hint = self.o.retry_command.format(session=session.id)
            self.o._rest(session.id, S.NEEDS_ATTENTION,
                         f"verify failed on the merged tree: {row.message}. The session branch "
                         f"was not moved. Fix the code or the base, then run `{hint}`.")
            return False
        if row.status != C.PENDING:
            return False  # the verify job is running; its result continues Finalize
        if self.verifier is None:
            raise BadInput("the manifest has a verify command but no verifier is configured")
        if not self.o.store.move_child(row.id, C.DISPATCHED, only_from=[C.PENDING],
                                       start_sha=session.merged_commit,
                                       dispatched_at=utcnow()):
            return False
        self.o.store.log(session.id, "verify", manifest.verify.command, "started")
        outcome = self.verifier.verify(session, session.merged_commit, manifest.job_config(),
                                       row)
        if outcome is not None:
            self.o.record_result(row.id, outcome)
        return False

    def _verify_row(self, session: SessionRow) -> ChildRow:
        rows = self.o.store.children(session.id, kind="verify")
        if rows:
            return rows[0]
        row = ChildRow(id=secrets.token_hex(8), session_id=session.id, kind="verify",
                       component=VERIFY_ROW, position=10**6, spec={}, status=C.PENDING.value,
                       round=session.round, branch=staging_branch(session.id), attempts=0,
                       message="")
        try:
            self.o.store.add_children([row])
        except IntegrityError:  # another worker created it first
            return self.o.store.children(session.id, kind="verify")[0]
        return row

    def continue_after_verify(self, session_id: str) -> None:
        """Go on with Finalize after the verify row rested (used by queue tasks)."""
        self.finalize(session_id)


def _finding(component: str, message: str):
    from service.domain.validation import Finding

    return Finding(component, "merge", message)


def pull_request_body(session: SessionRow, children: list[ChildRow]) -> str:
    """Return the pull request description: a table of components and their tests."""
    lines = [f"ccs session `{session.id}` implemented the **{session.context}** context.", "",
             "| component | attempts | tests |", "|---|---|---|"]
    for child in children:
        lines.append(f"| {child.component} | {child.attempts} | {child.tests_passed} passed |")
    return "\n".join(lines) + "\n"
