"""Validate: gather facts about each child's work from git and apply the domain rules."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from service.domain.bundles import BadBundle
from service.domain.states import ChildMoves, ChildStatus, SessionMoves, SessionStatus
from service.domain.validation import ChildFacts, Finding, validate_child
from service.domain.wire import TestCounts
from service.orchestrator.context import Ports, component_of
from service.orchestrator.errors import BadInput
from service.orchestrator.ports import ChildRecord, Git, GitError, SessionRecord

# Facts are a few git processes per child, read-only: gathered a few children at a time
# (they wait on git, not on Python), they took ~0.4 s at N = 20 one after another.
FACT_THREADS = 4

NOT_SUCCEEDED = {
    ChildStatus.FAILED: "the job failed",
    ChildStatus.CANCELLED: "it was cancelled",
    ChildStatus.TIMED_OUT: "it timed out without reporting",
}


def validate(ports: Ports, session_id: str) -> bool:
    """Check every child's work; return True when the session may go on to Finalize."""
    session = ports.store.session(session_id)
    if session.status != SessionStatus.VALIDATING:
        return False
    try:
        findings = validate_children(ports, session)
    except (BadInput, GitError) as error:
        ports.rest(session_id, SessionMoves.NEED_ATTENTION, f"validate failed: {error}")
        return False
    if findings:
        ports.rest(session_id, SessionMoves.NEED_ATTENTION, ports.attention(session, findings))
        return False
    ports.store.log(session_id, "validate", "all children", "passed")
    return ports.store.apply(SessionMoves.FINALIZE, session_id)


def validate_children(ports: Ports, session: SessionRecord) -> list[Finding]:
    """Return every finding against the session's children; mark failing ones failed."""
    children = ports.store.children(session.id)
    judged = judge_succeeded(ports, session,
                             [c for c in children if c.status == ChildStatus.SUCCEEDED])
    # Refused bundles first, then every child's findings in spawn order.
    findings = [f for f in judged if f.rule == "bundle"]
    for child in children:
        if child.status != ChildStatus.SUCCEEDED:
            findings.append(_not_succeeded(child, ChildStatus(child.status)))
        else:
            findings += [f for f in judged if f.component == child.component
                         and f.rule != "bundle"]
    return findings


def judge_succeeded(ports: Ports, session: SessionRecord,
                    succeeded: list[ChildRecord]) -> list[Finding]:
    """Take in the succeeded children's work and judge it by the rules; mark failing ones
    failed and return their findings."""
    findings = receive_bundles(ports, session, succeeded)
    ports.host.prepare_children(session, succeeded)
    refused = {finding.component for finding in findings}
    judged = [child for child in succeeded if child.component not in refused]
    for child, facts in zip(judged, _gather_facts(ports.git, judged), strict=True):
        ports.store.update_child(child.id, changed_files=list(facts.changed_files))
        child_findings = validate_child(facts)
        if child_findings:
            message = " ".join(f.message for f in child_findings)
            ports.store.apply(ChildMoves.FAIL_VALIDATION, child.id, message=message)
            findings += child_findings
    return findings


def receive_bundles(ports: Ports, session: SessionRecord,
                    children: list[ChildRecord]) -> list[Finding]:
    """Take in the bundles the children's jobs sent (DESIGN §6a); fail those refused."""
    findings = []
    for child in children:
        bundle = ports.store.bundle(child.id)
        if bundle is None:
            continue  # a commit already on its branch (or none) is judged as it is
        try:
            ports.host.receive_bundle(session, child, bundle)
        except BadBundle as error:
            # A git or GitHub failure is no refusal: it propagates and the bundle stays.
            message = (f"{child.component}: the commit its job sent was refused: {error}. "
                       "Retry to run it again.")
            ports.store.apply(ChildMoves.FAIL_VALIDATION, child.id, message=message)
            findings.append(Finding(child.component, "bundle", message))
        ports.store.drop_bundle(child.id)
    return findings


def _not_succeeded(child: ChildRecord, status: ChildStatus) -> Finding:
    reason = child.message or NOT_SUCCEEDED.get(status, status.value)
    if not reason.startswith(f"{child.component}:"):
        reason = f"{child.component}: {reason}"
    return Finding(child.component, status.value, reason)


def child_facts(git: Git, child: ChildRecord) -> ChildFacts:
    """Return what git says about a succeeded child's commit (never the job's own list)."""
    component = component_of(child)
    branch_head = _branch_head(git, child.branch)
    # A coder that changed nothing leaves the session head itself, which ccs already has.
    on_branch = bool(child.commit and (child.commit == child.start_sha or (branch_head and (
        branch_head == child.commit or git.is_ancestor(child.commit, branch_head)))))
    changed = git.changed_files(child.start_sha, child.commit) if on_branch else []
    own = [component.implementation, component.test]
    return ChildFacts(
        component=component, reported_status="succeeded", reported_message=child.message,
        commit=child.commit, commit_on_branch=on_branch,
        file_sizes=git.blob_sizes(child.commit, own) if on_branch else {},
        tests=TestCounts(child.tests_passed, child.tests_failed, child.tests_errors,
                         child.tests_skipped),
        changed_files=tuple(changed),
        # A link at a component's path, or among its changes, could write outside the repo.
        symlinks=tuple(git.symlinks(child.commit, sorted(component.own_files | set(changed))))
        if on_branch else (),
    )


def _gather_facts(git: Git, children: list[ChildRecord]) -> list[ChildFacts]:
    """Return each child's facts, in order; the git reads of several children overlap."""
    if len(children) < 2:
        return [child_facts(git, child) for child in children]
    with ThreadPoolExecutor(max_workers=min(FACT_THREADS, len(children)),
                            thread_name_prefix="ccs-validate") as pool:
        return list(pool.map(lambda child: child_facts(git, child), children))


def _branch_head(git: Git, branch: str) -> str | None:
    try:
        return git.resolve(f"refs/heads/{branch}")
    except GitError:  # a missing branch is a finding, not a crash
        return None
