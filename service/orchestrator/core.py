"""The orchestrator: Initialize → Spawn → (children run) → Validate → Finalize."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from service.adapters.db.models import ChildRow, SessionRow, utcnow
from service.adapters.db.store import NotFound, Store
from service.adapters.git_repo import GitError
from service.domain.manifest import Component, Manifest, ManifestError
from service.domain.names import InvalidName, check_name, child_branch, new_session_id
from service.domain.names import session_branch as make_session_branch
from service.domain.states import CHILD_ACTIVE, CHILD_RERUN, ChildStatus, SessionStatus
from service.domain.wire import ChildResult
from service.orchestrator.errors import BadInput, SessionBusy, UnknownSession
from service.orchestrator.finalize import Finalizer
from service.orchestrator.ports import Executor, Git, Host, NullReporter, Reporter, Verifier
from service.orchestrator.results import ResultRecorder
from service.orchestrator.validate import validate_children

S, C = SessionStatus, ChildStatus
RETRY_HINT = "Fix what is named above (often the design doc), then run `{retry}`."


class Orchestrator:
    """Runs sessions through their steps; every step is safe to run again."""

    def __init__(
        self,
        store: Store,
        git: Git,
        host: Host,
        executor: Executor,
        verifier: Verifier | None = None,
        reporter: Reporter | None = None,
        parse_manifest: Callable[[str, str], Manifest] | None = None,
        retry_command: str = "ccs retry {session}",
    ) -> None:
        self.store, self.git, self.host, self.executor = store, git, host, executor
        self.reporter = reporter or NullReporter()
        self.retry_command = retry_command
        self._parse = parse_manifest or _default_parser()
        self._manifests: dict[tuple[str, str], Manifest] = {}
        self.results = ResultRecorder(store)
        self.finalizer = Finalizer(self, verifier)

    # Manifest -----------------------------------------------------------------------

    def manifest(self, commit: str, path: str) -> Manifest:
        """Return the manifest at `commit`, or raise BadInput saying what is wrong."""
        key = (commit, path)
        if key not in self._manifests:
            text = self.git.read_file(commit, path)
            if text is None:
                raise BadInput(f"no manifest at {path} in commit {commit[:12]}; add one "
                               "(`ccs init` writes a starting point)", code="no_manifest")
            try:
                self._manifests[key] = self._parse(text, path)
            except (ManifestError, InvalidName) as error:
                raise BadInput(str(error), code="invalid_manifest") from None
        return self._manifests[key]

    def components(self, session: SessionRow, base_sha: str | None = None) -> list[Component]:
        """Return the session's components as the manifest at `base_sha` resolves them."""
        manifest = self.manifest(base_sha or session.base_sha, session.manifest_path)
        try:
            return manifest.components(session.context, session.requested_components)
        except ManifestError as error:
            raise BadInput(str(error), code="unknown_component") from None

    # Start --------------------------------------------------------------------------

    def start(self, **request: Any) -> SessionRow:
        """Check the request, record the session and run Initialize and Spawn.

        Takes the keyword arguments of `record`.
        """
        session = self.record(**request)
        self.initialize(session.id)
        return self.store.session(session.id)

    def record(
        self,
        *,
        repository: str,
        context: str,
        base_ref: str,
        components: list[str] | None = None,
        manifest_path: str = ".github/ccs.yml",
        push: bool = False,
        parallel: int | None = None,
        issue: int | None = None,
        requested_by: str | None = None,
        source: str = "cli",
        installation_id: int | None = None,
    ) -> SessionRow:
        """Check a start request and record the session as pending; raise BadInput if bad."""
        try:
            check_name("context", context)
            for name in components or []:
                check_name("component", name)
        except InvalidName as error:
            raise BadInput(str(error), code="invalid_name") from None
        try:
            base_sha = self.host.base_head(base_ref)
        except GitError as error:
            raise BadInput(f"base {base_ref!r} cannot be used: {error}", code="bad_base") from None
        manifest = self.manifest(base_sha, manifest_path)
        try:
            manifest.components(context, components)
        except ManifestError as error:
            raise BadInput(str(error), code="unknown_context") from None
        session_id = new_session_id()
        session = SessionRow(
            id=session_id, repository=repository, installation_id=installation_id,
            context=context, status=S.PENDING.value,
            branch=make_session_branch(context, session_id),
            base_ref=base_ref, base_sha=base_sha, manifest_path=manifest_path,
            requested_components=list(components) if components else None, issue_number=issue,
            requested_by=requested_by, source=source, push=push,
            parallel=parallel or manifest.parallel, round=1, message="",
        )
        self.store.add_session(session)
        self.store.log(session.id, "start", {"context": context, "components": components,
                                             "base": base_ref, "source": source},
                       f"recorded at base {base_sha[:12]}")
        return session

    def initialize(self, session_id: str) -> None:
        """Create the session branch and the children, then spawn (resumable)."""
        if self.store.move_session(session_id, S.INITIALIZING):
            self.store.log(session_id, "initialize", "begin", "initializing")
        session = self.store.session(session_id)
        if session.status != S.INITIALIZING:
            return
        try:
            components = self.components(session)
            self.host.set_session_branch(session, session.base_sha)
        except (BadInput, GitError) as error:
            self._rest(session_id, S.FAILED, f"initialize failed: {error}")
            return
        self._ensure_children(session, components)
        self.store.move_session(session_id, S.RUNNING)
        self.store.log(session_id, "initialize", {"branch": session.branch},
                       f"branch {session.branch} at {session.base_sha[:12]}")
        self.spawn(session_id)

    def _ensure_children(self, session: SessionRow, components: list[Component]) -> None:
        existing = {c.component: c for c in self.store.children(session.id)}
        spec_of = {c.name: _spec(c) for c in components}
        new_rows = []
        for position, component in enumerate(components):
            child = existing.get(component.name)
            if child is None:
                new_rows.append(ChildRow(
                    id=secrets.token_hex(8), session_id=session.id, kind="component",
                    component=component.name, position=position, spec=spec_of[component.name],
                    status=C.PENDING.value, round=session.round,
                    branch=child_branch(session.id, component.name), start_sha=session.base_sha,
                    attempts=0, message="",
                ))
            elif child.status == C.PENDING:
                self.store.update_child(child.id, spec=spec_of[component.name],
                                        start_sha=session.base_sha, position=position)
        if new_rows:
            self.store.add_children(new_rows)

    def spawn(self, session_id: str) -> None:
        """Dispatch every pending child of a running session (never one twice)."""
        session = self.store.session(session_id)
        if session.status != S.RUNNING:
            return
        pending = [c for c in self.store.children(session_id) if c.status == C.PENDING]
        if pending:
            config = self.manifest(session.base_sha, session.manifest_path).job_config()
            self.store.log(session_id, "spawn", [c.component for c in pending],
                           f"dispatching {len(pending)} child(ren)")
            self.executor.dispatch(session, pending, config)
        self.reporter.session_changed(session_id)
        self.after_child_change(session_id)

    # Results and fan-in -------------------------------------------------------------

    def record_result(self, child_id: str, result: ChildResult,
                      repository: str | None = None, fan_in: bool = True) -> str:
        """Record a child's result; return 'accepted', or 'duplicate' when one was recorded.

        With fan_in=False only the result is stored (a fast compare-and-set, fit for a request
        handler); the caller must then run after_child_change (e.g. from a queue task).
        """
        try:
            child, session = self.store.child_with_session(child_id)
        except NotFound:
            raise UnknownSession(f"no child {child_id!r}") from None
        if repository is not None and session.repository != repository:
            raise UnknownSession(f"no child {child_id!r} in {repository}")
        outcome = self.results.record(child, session, result)
        if outcome != "accepted" or not fan_in:
            return outcome
        if child.kind == "verify":
            self.finalizer.finalize(session.id)
        else:
            self.reporter.session_changed(session.id)
            self.after_child_change(session.id)
        return outcome

    def after_child_change(self, session_id: str) -> None:
        """Start Validate exactly once, when the last child of a running session rests."""
        counts = self.store.child_status_counts(session_id)
        if any(counts.get(s.value) for s in C if not s.is_terminal):
            return
        # Compare-and-set: of all the threads or processes that get here, one wins.
        if self.store.move_session(session_id, S.VALIDATING):
            self.validate(session_id)

    def validate(self, session_id: str) -> None:
        """Check every child's work; go on to Finalize or stop with what needs attention."""
        session = self.store.session(session_id)
        if session.status != S.VALIDATING:
            return
        try:
            findings = validate_children(self, session)
        except (BadInput, GitError) as error:
            self._rest(session_id, S.NEEDS_ATTENTION, f"validate failed: {error}")
            return
        if findings:
            self._rest(session_id, S.NEEDS_ATTENTION, self._attention(session, findings))
            return
        self.store.log(session_id, "validate", "all children", "passed")
        if self.store.move_session(session_id, S.FINALIZING):
            self.finalizer.finalize(session_id)

    def _attention(self, session: SessionRow, findings: list) -> str:
        from service.domain.validation import attention_message

        hint = RETRY_HINT.format(retry=self.retry_command.format(session=session.id))
        return attention_message(session.context, findings, hint)

    def _rest(self, session_id: str, status: SessionStatus, message: str) -> None:
        self.store.move_session(session_id, status, message=message)
        self.store.log(session_id, status.value, "", message, ok=status == S.COMPLETE)
        self.reporter.session_changed(session_id)

    # Retry, cancel, resume ----------------------------------------------------------

    def retry(self, session_id: str, repository: str | None = None) -> SessionRow:
        """Re-run only what failed, from the base branch's current head."""
        session = self.session(session_id, repository)
        if session.status == S.COMPLETE:
            return session
        if not S(session.status).is_terminal:
            raise SessionBusy(f"session {session_id} is still {session.status}; wait for it "
                              f"to finish or cancel it first")
        try:
            new_base = self.host.base_head(session.base_ref)
        except GitError as error:
            raise BadInput(f"base {session.base_ref!r} cannot be used: {error}",
                           code="bad_base") from None
        components = {c.name: c for c in self.components(session, new_base)}
        if not self.store.move_session(session_id, S.INITIALIZING, base_sha=new_base,
                                       round=session.round + 1, merged_commit=None, message=""):
            raise SessionBusy(f"session {session_id} changed while retrying; try again")
        session = self.store.session(session_id)
        # A new round merges anew, so the merged tree must be verified anew too.
        self.store.delete_children(session_id, kind="verify")
        for child in self.store.children(session_id):
            if C(child.status) in CHILD_RERUN:
                spec = _spec(components[child.component]) if child.component in components \
                    else child.spec
                self.store.move_child(
                    child.id, C.PENDING, spec=spec, round=session.round,
                    start_sha=new_base, commit=None, attempts=0, tests_passed=0, tests_failed=0,
                    tests_errors=0, tests_skipped=0, changed_files=None, message="",
                    run_id=None, job_id=None, run_url=None, finished_at=None,
                )
        self.store.log(session_id, "retry", {"round": session.round},
                       f"base now {new_base[:12]}")
        self.initialize(session_id)
        return self.store.session(session_id)

    def cancel(self, session_id: str, repository: str | None = None) -> SessionRow:
        """Stop a session and its running children; a retry resumes it later."""
        session = self.session(session_id, repository)
        if session.status in (S.COMPLETE, S.CANCELLED):
            return session
        self.store.move_session(session_id, S.CANCELLED, message="cancelled")
        # Mark the children first: a job stopped by executor.cancel reports a failure at
        # once, and that result must find its child already cancelled (a duplicate).
        active = [c for c in self.store.children(session_id, kind=None)
                  if C(c.status) in (*CHILD_ACTIVE, C.PENDING)
                  and self.store.move_child(c.id, C.CANCELLED, message="cancelled")]
        if active:
            self.executor.cancel(session, active)
        self.store.log(session_id, "cancel", "", f"cancelled {len(active)} child(ren)")
        self.reporter.session_changed(session_id)
        return self.store.session(session_id)

    def advance(self, session_id: str) -> None:
        """Resume a session left mid-step (after a crash) without repeating finished work."""
        status = S(self.store.session(session_id).status)
        if status in (S.PENDING, S.INITIALIZING):
            self.initialize(session_id)
        elif status == S.RUNNING:
            session = self.store.session(session_id)
            resume = getattr(self.executor, "resume", None)
            if resume is not None:
                # A crash between recording a dispatch and sending it leaves children
                # dispatched with no job; the executor knows which sends are unfinished.
                resume(session, self.manifest(session.base_sha, session.manifest_path)
                       .job_config())
            self.spawn(session_id)
        elif status == S.VALIDATING:
            self.validate(session_id)
        elif status == S.FINALIZING:
            self.finalizer.finalize(session_id)

    def time_out_silent_children(self, timeout_seconds: int, now: datetime | None = None,
                                 repository: str | None = None) -> list[str]:
        """Mark children silent for longer than the timeout as timed out; return their ids."""
        cutoff = (now or utcnow()) - timedelta(seconds=timeout_seconds)
        timed_out = []
        for child in self.store.silent_children(cutoff, repository):
            message = (f"{child.component}: no result after {timeout_seconds} s; the job may "
                       "have died. Retry to run it again.")
            if self.store.move_child(child.id, C.TIMED_OUT, message=message,
                                     finished_at=utcnow()):
                timed_out.append(child.id)
                self.store.log(child.session_id, "timeout", child.component, message, ok=False)
                if child.kind == "verify":
                    self._rest(child.session_id, S.NEEDS_ATTENTION, message)
                else:
                    self.after_child_change(child.session_id)
        return timed_out

    def session(self, session_id: str, repository: str | None = None) -> SessionRow:
        """Return the session, or raise UnknownSession (also for another repository's)."""
        try:
            return self.store.session(session_id, repository)
        except NotFound as error:
            raise UnknownSession(str(error)) from None


def _spec(component: Component) -> dict:
    return {"context": component.context, "name": component.name,
            "priority": component.priority, "design": component.design,
            "implementation": component.implementation, "test": component.test,
            "allow": list(component.allow)}


def component_of(child: ChildRow) -> Component:
    """Return the resolved component a child works on."""
    spec = dict(child.spec)
    spec["allow"] = tuple(spec.get("allow") or ())
    return Component(**spec)


def _default_parser() -> Callable[[str, str], Manifest]:
    from service.adapters.manifest.parse import parse_manifest

    return parse_manifest
