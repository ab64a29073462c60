"""The integration child (DESIGN §3b): when verify fails on the merged tree, the coder gets the
context's design docs, verify's output and every file of the context, with verify as its test,
for up to `integration.attempts` rounds; its work becomes the merged tree, verified again."""

from __future__ import annotations

import secrets
from dataclasses import replace

from service.domain.manifest import Component, Manifest
from service.domain.names import child_branch
from service.domain.states import ChildKind, ChildMoves, ChildStatus, SessionMoves
from service.domain.validation import validate_child
from service.domain.wire import JobConfig
from service.orchestrator.context import Ports
from service.orchestrator.merge import finalize_message
from service.orchestrator.ports import ChildRecord, NewChild, SessionRecord
from service.orchestrator.validate import child_facts, receive_bundles

INTEGRATION_ROW = "_integration"  # not a valid component name, so it never collides with one


def integration_row(ports: Ports, session: SessionRecord) -> ChildRecord | None:
    """Return the session's integration child of this round, if it has one."""
    rows = ports.store.children(session.id, kind=ChildKind.INTEGRATION)
    return rows[0] if rows else None


def integrate(ports: Ports, session: SessionRecord, manifest: Manifest,
              verify: ChildRecord) -> bool:
    """Go on after verify failed; return True when the integration's work is now the merged
    commit (verify must run again), False while it runs or once the session is parked."""
    row = integration_row(ports, session)
    if row is None:
        row = _add_row(ports, session, manifest, verify)
    if row.start_sha != session.merged_commit:
        # Its work is merged already, and verify failed on it all the same.
        _park(ports, session, verify, "after the integration round(s) too")
        return False
    if row.status == ChildStatus.PENDING:
        ports.store.log(session.id, "integration", {"attempts": _attempts(manifest)},
                        f"verify failed; integrating on {row.start_sha[:12]}")
        ports.executor.dispatch(session, [row], integration_config(manifest))
        ports.reporter.session_changed(session.id)
        row = integration_row(ports, session) or row
    if row.status == ChildStatus.SUCCEEDED:
        return _take(ports, session, manifest, row, verify)
    if ChildStatus(row.status).is_terminal:
        _park(ports, session, verify, f"and the integration child could not fix it: "
                                      f"{row.message}")
    return False


def integration_config(manifest: Manifest) -> JobConfig:
    """Return the integration job's config: the coder, with verify as its test."""
    config = manifest.job_config()
    return replace(config, test=manifest.verify, attempts=_attempts(manifest))


def _attempts(manifest: Manifest) -> int:
    return manifest.integration.attempts if manifest.integration else 1


def integration_spec(components: list[Component], description: str, feedback: str,
                     rounds: int = 1) -> dict:
    """Return the integration child's spec: the context's designs, all its files allowed,
    and how many coder → verify rounds it gets."""
    first = components[0]
    files = {path for c in components for path in c.own_files}
    allow = sorted(files - {first.implementation, first.test})
    return {"context": first.context, "name": INTEGRATION_ROW, "priority": 0,
            "design": first.design, "implementation": first.implementation,
            "test": first.test, "allow": allow, "needs": [], "description": description,
            "wave": 0, "designs": [c.design for c in components], "feedback": feedback,
            "rounds": rounds}


def _add_row(ports: Ports, session: SessionRecord, manifest: Manifest,
             verify: ChildRecord) -> ChildRecord:
    context = manifest.context(session.context)
    spec = integration_spec(manifest.components(session.context), context.description,
                            f"{verify.message}\n", _attempts(manifest))
    ports.store.add_children([NewChild(
        id=secrets.token_hex(8), session_id=session.id, kind=ChildKind.INTEGRATION,
        component=INTEGRATION_ROW, position=10**6 - 1, round=session.round,
        branch=child_branch(session.id, INTEGRATION_ROW), spec=spec,
        start_sha=session.merged_commit)])
    row = integration_row(ports, session)
    assert row is not None
    return row


def _take(ports: Ports, session: SessionRecord, manifest: Manifest, row: ChildRecord,
          verify: ChildRecord) -> bool:
    """Check the integration's changes, then make its tree the merged commit."""
    assert session.base_sha is not None and row.commit is not None
    # Its job's commit travels as a bundle (DESIGN §6a), like a component's.
    refused = receive_bundles(ports, session, [row])
    if refused:
        ports.rest(session.id, SessionMoves.NEED_ATTENTION, ports.attention(session, refused))
        return False
    ports.host.prepare_children(session, [row])
    facts = child_facts(ports.git, row)
    ports.store.update_child(row.id, changed_files=list(facts.changed_files))
    row = integration_row(ports, session) or row
    # Verify was its test, so there is no test file of its own to judge.
    findings = [f for f in validate_child(facts) if f.rule not in ("files", "tests")]
    if findings:
        message = " ".join(f.message for f in findings)
        ports.store.apply(ChildMoves.FAIL_VALIDATION, row.id, message=message)
        ports.rest(session.id, SessionMoves.NEED_ATTENTION, ports.attention(session, findings))
        return False
    tree = ports.git.merge_tree(row.commit, row.commit).tree
    assert tree is not None
    message = finalize_message(session.context, ports.store.children(session.id)) + (
        f"\n{integration_summary(row)}\n")
    merged = ports.git.commit_tree(tree, [session.base_sha], message)
    ports.store.update_session(session.id, merged_commit=merged)
    # The verify row judged the old tree; the new one is verified afresh.
    ports.store.delete_children(session.id, kind=ChildKind.VERIFY)
    ports.store.log(session.id, "integration", {"changed": row.changed_files},
                    f"merged tree now {merged[:12]}")
    return True


def integration_summary(row: ChildRecord) -> str:
    """Return one line saying what the integration child changed."""
    changed = ", ".join(row.changed_files or []) or "nothing"
    return (f"Integration after verify failed ({row.attempts} round(s)): changed {changed}.")


def _park(ports: Ports, session: SessionRecord, verify: ChildRecord, why: str) -> None:
    hint = ports.retry_command.format(session=session.id)
    ports.rest(session.id, SessionMoves.NEED_ATTENTION,
               f"verify failed on the merged tree: {verify.message}, {why}. The session "
               f"branch was not moved. Fix the code or the base, then run `{hint}`.")


