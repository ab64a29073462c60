"""The verify part of Finalize: the whole-suite command on the merged tree, as a child row."""

from __future__ import annotations

import secrets

from service.domain.manifest import Manifest
from service.domain.names import staging_branch
from service.domain.states import ChildKind, ChildMoves, ChildStatus, SessionMoves
from service.orchestrator.context import Ports
from service.orchestrator.errors import BadInput
from service.orchestrator.integration import integrate
from service.orchestrator.ports import ChildRecord, NewChild, SessionRecord
from service.orchestrator.results import record_result

VERIFY_ROW = "_verify"  # not a valid component name, so it never collides with one


def verified(ports: Ports, session: SessionRecord, manifest: Manifest) -> bool:
    """Return True once verify passed on the merged commit; start or report it otherwise."""
    row = verify_row(ports, session)
    if row.status == ChildStatus.PENDING:
        if not _start(ports, session, manifest, row):
            return False
        row = verify_row(ports, session)
    elif _unsent(row, session) and ports.verifier is not None:
        # Resumed after a crash between recording the job and sending it (fault matrix).
        assert session.merged_commit is not None
        ports.verifier.resend(session, session.merged_commit, manifest.job_config(), row)
        return False
    if row.commit != session.merged_commit:
        return False
    if row.status == ChildStatus.SUCCEEDED:
        return True
    if row.status == ChildStatus.FAILED and manifest.integration is not None:
        if integrate(ports, session, manifest, row):
            return verified(ports, ports.store.session(session.id), manifest)
        return False
    if row.status == ChildStatus.FAILED:
        hint = ports.retry_command.format(session=session.id)
        ports.rest(session.id, SessionMoves.NEED_ATTENTION,
                   f"verify failed on the merged tree: {row.message}. The session branch "
                   f"was not moved. Fix the code or the base, then run `{hint}`.")
    return False  # failed, or the verify job is running: its result continues Finalize


def _unsent(row: ChildRecord, session: SessionRecord) -> bool:
    """Tell whether a dispatched verify job of this merged commit may never have been sent."""
    return (row.status == ChildStatus.DISPATCHED and row.run_id is None
            and row.start_sha == session.merged_commit)


def _start(ports: Ports, session: SessionRecord, manifest: Manifest, row: ChildRecord) -> bool:
    """Dispatch the verify job; return True when its result is already recorded."""
    if ports.verifier is None:
        raise BadInput("the manifest has a verify command but no verifier is configured")
    assert manifest.verify is not None and session.merged_commit is not None
    if not ports.store.apply(ChildMoves.DISPATCH, row.id, start_sha=session.merged_commit,
                             dispatched_at=ports.clock.now()):
        return False
    ports.store.log(session.id, "verify", manifest.verify.command, "started")
    outcome = ports.verifier.verify(session, session.merged_commit,
                                    manifest.verify_config(session.context), row)
    if outcome is None:
        return False
    record_result(ports.store, row, session, outcome, ports.clock.now())
    return True


def verify_row(ports: Ports, session: SessionRecord) -> ChildRecord:
    """Return the session's verify row, creating it (once, whoever races) when missing."""
    rows = ports.store.children(session.id, kind=ChildKind.VERIFY)
    if rows:
        return rows[0]
    ports.store.add_children([NewChild(
        id=secrets.token_hex(8), session_id=session.id, kind=ChildKind.VERIFY,
        component=VERIFY_ROW, position=10**6, round=session.round,
        branch=staging_branch(session.id))])
    return ports.store.children(session.id, kind=ChildKind.VERIFY)[0]
