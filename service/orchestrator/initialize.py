"""Start and Initialize: check a request, record the session, create its branch and children."""

from __future__ import annotations

import secrets

from service.domain.commands import StartSession
from service.domain.manifest import Component, Manifest, ManifestError
from service.domain.names import InvalidName, check_name, child_branch, new_session_id
from service.domain.names import session_branch as make_session_branch
from service.domain.states import ChildKind, ChildStatus, SessionMoves, SessionStatus
from service.domain.waves import missing_needs
from service.orchestrator.context import Ports, specs_of
from service.orchestrator.errors import BadInput
from service.orchestrator.ports import GitError, NewChild, NewSession, SessionRecord


def record_session(ports: Ports, command: StartSession) -> SessionRecord:
    """Check a start request and record the session as pending; raise BadInput if bad.

    A request from a webhook delivery that already recorded its session (a redelivery, or a
    re-driven event after a crash) returns that session: one delivery, one session.
    """
    if command.delivery:
        existing = ports.store.session_for_delivery(command.delivery)
        if existing is not None:
            return existing
    try:
        check_name("context", command.context)
        for name in command.components:
            check_name("component", name)
    except InvalidName as error:
        raise BadInput(str(error), code="invalid_name") from None
    base_ref = command.base or choose_base(ports, command.manifest_path)
    ports.host.check_base(base_ref)
    base_sha = _base_head(ports, base_ref)
    manifest = ports.manifest(base_sha, command.manifest_path)
    components = list(command.components) or None
    try:
        manifest.components(command.context, components)
    except ManifestError as error:
        raise BadInput(str(error), code="unknown_context") from None
    if components:
        check_only(ports, manifest, command.context, components, base_sha)
    session_id = new_session_id()
    session = ports.store.add_session(NewSession(
        id=session_id, repository=command.repository, context=command.context,
        branch=make_session_branch(command.context, session_id), base_ref=base_ref,
        base_sha=base_sha, manifest_path=command.manifest_path,
        parallel=command.parallel or manifest.parallel, requested_components=components,
        installation_id=command.installation_id, issue_number=command.issue,
        requested_by=command.requested_by or None, source=command.source, push=command.push,
        budget=manifest.budget.to_json() if manifest.budget else None,
        delivery_id=command.delivery))
    ports.store.log(session.id, "start", {"context": command.context, "components": components,
                                          "base": base_ref, "source": command.source},
                    f"recorded at base {base_sha[:12]}")
    return session


def check_only(ports: Ports, manifest: Manifest, context: str, named: list[str],
               base_sha: str) -> None:
    """Raise BadInput when a named component needs one that is neither named nor already
    implemented on the base (DESIGN §3b: `--only` pulls in nothing)."""
    needs = manifest.context(context).needs()
    resolved = {c.name: c for c in manifest.components(context)}
    outside = sorted({n for name in named for n in needs[name] if n not in named})
    sizes = ports.git.blob_sizes(base_sha, [resolved[n].implementation for n in outside])
    implemented = [n for n in outside if sizes.get(resolved[n].implementation) is not None]
    missing = missing_needs(needs, named, implemented)
    if missing:
        lines = "; ".join(f"{name} needs {', '.join(wanted)}" for name, wanted in missing.items())
        also = sorted({n for wanted in missing.values() for n in wanted})
        raise BadInput(f"{lines}, which is not implemented on the base ({base_sha[:12]}); name "
                       f"it too (--only {','.join([*named, *also])}) or implement it there "
                       "first", code="missing_needs")


def choose_base(ports: Ports, manifest_path: str) -> str:
    """Return the manifest's `base` (read at the host's default base), else that default."""
    default = ports.host.default_base()
    return ports.manifest(_base_head(ports, default), manifest_path).base or default


def _base_head(ports: Ports, ref: str) -> str:
    try:
        return ports.host.base_head(ref)
    except GitError as error:
        raise BadInput(f"base {ref!r} cannot be used: {error}", code="bad_base") from None


def initialize(ports: Ports, session_id: str) -> bool:
    """Create the session branch and the children (resumable); return True when running."""
    store = ports.store
    if store.apply(SessionMoves.INITIALIZE, session_id):
        store.log(session_id, "initialize", "begin", "initializing")
    session = store.session(session_id)
    if session.status != SessionStatus.INITIALIZING:
        return session.status == SessionStatus.RUNNING
    assert session.base_sha is not None
    try:
        components = ports.components(session)
        ports.host.set_session_branch(session, session.base_sha)
    except (BadInput, GitError) as error:
        ports.rest(session_id, SessionMoves.FAIL, f"initialize failed: {error}")
        return False
    ensure_children(ports, session, components)
    # The budget's minutes count from Spawn.
    store.apply(SessionMoves.RUN, session_id, spawned_at=ports.clock.now())
    store.log(session_id, "initialize", {"branch": session.branch},
              f"branch {session.branch} at {session.base_sha[:12]}")
    return True


def ensure_children(ports: Ports, session: SessionRecord, components: list[Component]) -> None:
    """Record a child for every component that has none; refresh the pending ones."""
    store = ports.store
    existing = {c.component: c for c in store.children(session.id)}
    description = ports.session_manifest(session).context(session.context).description
    specs = specs_of(components, description)
    new = []
    for position, component in enumerate(components):
        child = existing.get(component.name)
        if child is None:
            new.append(NewChild(
                id=secrets.token_hex(8), session_id=session.id, kind=ChildKind.COMPONENT,
                component=component.name, position=position, spec=specs[component.name],
                round=session.round, branch=child_branch(session.id, component.name),
                start_sha=session.base_sha))
        elif child.status == ChildStatus.PENDING:
            store.update_child(child.id, spec=specs[component.name],
                               start_sha=session.base_sha, position=position)
    if new:
        store.add_children(new)
