"""The Validate step: gather facts about each child's work and apply the domain rules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.adapters.db.models import SessionRow
from service.adapters.git_repo import GitError
from service.domain.states import ChildStatus
from service.domain.validation import ChildFacts, Finding, validate_child
from service.domain.wire import TestCounts

if TYPE_CHECKING:
    from service.orchestrator.core import Orchestrator

NOT_SUCCEEDED = {
    ChildStatus.FAILED: "the job failed",
    ChildStatus.CANCELLED: "it was cancelled",
    ChildStatus.TIMED_OUT: "it timed out without reporting",
}


def validate_children(orchestrator: Orchestrator, session: SessionRow) -> list[Finding]:
    """Return every finding against the session's children; mark failing ones failed."""
    from service.orchestrator.core import component_of

    store, git = orchestrator.store, orchestrator.git
    children = store.children(session.id)
    succeeded = [c for c in children if c.status == ChildStatus.SUCCEEDED]
    orchestrator.host.prepare_children(session, succeeded)
    findings: list[Finding] = []
    for child in children:
        status = ChildStatus(child.status)
        if status != ChildStatus.SUCCEEDED:
            reason = child.message or NOT_SUCCEEDED.get(status, status.value)
            if not reason.startswith(f"{child.component}:"):
                reason = f"{child.component}: {reason}"
            findings.append(Finding(child.component, status.value, reason))
            continue
        component = component_of(child)
        branch_head = _branch_head(git, child.branch)
        on_branch = bool(child.commit and branch_head and
                         (branch_head == child.commit or git.is_ancestor(child.commit,
                                                                         branch_head)))
        # Trust git, not the job's own list, for what the child changed.
        changed = git.changed_files(child.start_sha, child.commit) if on_branch else []
        own = [component.implementation, component.test]
        facts = ChildFacts(
            component=component, reported_status="succeeded", reported_message=child.message,
            commit=child.commit, commit_on_branch=on_branch,
            file_sizes=git.blob_sizes(child.commit, own) if on_branch else {},
            tests=TestCounts(child.tests_passed, child.tests_failed, child.tests_errors,
                             child.tests_skipped),
            changed_files=tuple(changed),
            symlinks=tuple(git.symlinks(child.commit, sorted(component.own_files | set(changed))))
            if on_branch else (),
        )
        store.update_child(child.id, changed_files=changed)
        child_findings = validate_child(facts)
        if child_findings:
            message = " ".join(f.message for f in child_findings)
            store.move_child(child.id, ChildStatus.FAILED, only_from=[ChildStatus.SUCCEEDED],
                             message=message)
            findings += child_findings
    return findings


def _branch_head(git, branch: str) -> str | None:
    try:
        return git.resolve(f"refs/heads/{branch}")
    except GitError:  # a missing branch is a finding, not a crash
        return None
