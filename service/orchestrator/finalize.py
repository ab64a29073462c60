"""Finalize: merge → verify → publish → pull request; resumable because each part checks
what is already done."""

from __future__ import annotations

from service.domain.manifest import Manifest
from service.domain.spend import Usage, total_usage, usage_of
from service.domain.states import ChildMoves, ChildStatus, SessionMoves, SessionStatus
from service.domain.validation import Finding
from service.orchestrator.context import Ports
from service.orchestrator.errors import BadInput
from service.orchestrator.integration import integration_row, integration_summary
from service.orchestrator.merge import MergeConflict, finalize_message, merge_children
from service.orchestrator.ports import ChildRecord, GitError, SessionRecord
from service.orchestrator.verify import verified


def finalize(ports: Ports, session_id: str) -> None:
    """Merge, verify, publish and complete the session (idempotent)."""
    store = ports.store
    session = store.session(session_id)
    if session.status != SessionStatus.FINALIZING:
        return
    try:
        manifest = ports.session_manifest(session)
        children = store.children(session_id)
        if not session.merged_commit:
            session = merge(ports, session, children)
            if session is None:
                return
        if manifest.verify and not verified(ports, session, manifest):
            return
        # An integration round may have replaced the merged commit.
        session = store.session(session_id)
        url = publish(ports, session, children, manifest)
    except (BadInput, GitError) as error:
        ports.rest(session_id, SessionMoves.NEED_ATTENTION, f"finalize failed: {error}")
        return
    assert session.merged_commit is not None
    summary = (f"finalized: {len(children)} component(s) merged into {session.branch} at "
               f"{session.merged_commit[:12]}" + (" and pushed" if session.push else ""))
    if store.apply(SessionMoves.COMPLETE, session_id, final_commit=session.merged_commit,
                   pull_request_url=url, message=summary):
        store.log(session_id, "complete", {"pull_request": url}, summary)
    ports.reporter.session_changed(session_id)


def merge(ports: Ports, session: SessionRecord,
          children: list[ChildRecord]) -> SessionRecord | None:
    """Merge the children and record the merged commit; None after a conflict (parked)."""
    assert session.base_sha is not None
    merged = merge_children(ports.git, session.base_sha, children,
                            finalize_message(session.context, children))
    if isinstance(merged, MergeConflict):
        _conflict(ports, session, merged)
        return None
    ports.store.update_session(session.id, merged_commit=merged.commit)
    ports.store.log(session.id, "merge", [c.component for c in children], merged.commit)
    return ports.store.session(session.id)


def publish(ports: Ports, session: SessionRecord, children: list[ChildRecord],
            manifest: Manifest) -> str | None:
    """Move the session branch to the merged commit; open the pull request if asked."""
    assert session.merged_commit is not None
    ports.host.publish(session, session.merged_commit)
    if not manifest.push_pull_request:
        return None
    body = pull_request_body(session, children, integration_row(ports, session))
    return ports.host.open_pull_request(session, f"Implement {session.context} context",
                                        ports.redact(body), manifest.draft_pull_request)


def _conflict(ports: Ports, session: SessionRecord, conflict: MergeConflict) -> None:
    message = conflict.message()
    ports.store.apply(ChildMoves.FAIL_VALIDATION, conflict.child.id, message=message)
    ports.rest(session.id, SessionMoves.NEED_ATTENTION, ports.attention(session, [
        Finding(conflict.child.component, "merge", message)]))


def pull_request_body(session: SessionRecord, children: list[ChildRecord],
                      integration: ChildRecord | None = None) -> str:
    """Return the pull request description: a table of components and their tests, and
    what an integration round changed."""
    lines = [f"ccs session `{session.id}` implemented the **{session.context}** context.", "",
             "| component | attempts | tests | spent |", "|---|---|---|---|"]
    for child in children:
        lines.append(f"| {child.component} | {child.attempts} | {child.tests_passed} passed | "
                     f"{_spent(usage_of(child))} |")
    total = total_usage(children)
    if total.spent:
        lines += ["", f"Spent in all: {total.summary()}."]
    if integration is not None and integration.status == ChildStatus.SUCCEEDED:
        lines += ["", f"**{integration_summary(integration)}** {integration.message}"]
    return "\n".join(lines) + "\n"


def _spent(usage: Usage) -> str:
    return usage.summary() if usage.spent else "—"
