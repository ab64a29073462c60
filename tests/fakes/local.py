"""The orchestrator's stage: a repository with a manifest, a store, a host and fake jobs.

`Project` comes in two kinds: `backend="git"` (default) is a real temporary git repository, a
real SQLite (or PostgreSQL) store and the real LocalHost; `backend="memory"` puts the same
story on the in-memory Store, Git and Host of tests/fakes/memory.py (no database, no git).
Either way `FakeExecutor` stands in for the child jobs (it records what was dispatched and
cancelled; a test finishes a child by committing files to its child branch), and
`FakeVerifier` for the verify job.

    project = Project.create(tmp_path, components={"isbn": 20, "money": 10})
    session = project.start()
    project.executor.finish("isbn")
    project.executor.finish("money")
    assert project.session(session.id).status == "complete"
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service.adapters.manifest.parse import parse_manifest
from service.domain.commands import (
    CancelSession,
    RecordChildResult,
    RetrySession,
    StartSession,
)
from service.domain.spend import Usage
from service.domain.states import ChildMoves, ChildStatus
from service.domain.wire import ChildResult, JobConfig, TestCounts
from service.orchestrator.bus import MessageBus
from service.orchestrator.context import Ports
from service.orchestrator.ports import ChildRecord, SessionRecord
from service.orchestrator.results import find_child, record_result
from tests.fakes.memory import MemoryGit, MemoryHost, MemoryStore, now

REPOSITORY = "local:test"
MANIFEST = ".github/ccs.yml"


def git(cwd: Path, *args: str, env: dict | None = None, stdin: str | None = None) -> str:
    """Run git in `cwd` and return its stripped stdout."""
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, input=stdin,
        env={**os.environ, **(env or {})},
    ).stdout.strip()


def commit_files(repo: Path, parent: str, files: dict[str, str | None], message: str) -> str:
    """Commit `files` (None deletes one) on top of `parent` without a checkout; return the sha."""
    with tempfile.TemporaryDirectory() as scratch:
        env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        git(repo, "read-tree", parent, env=env)
        for path, content in files.items():
            if content is None:
                git(repo, "update-index", "--force-remove", path, env=env)
                continue
            blob = git(repo, "hash-object", "-w", "--stdin", stdin=content)
            git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        tree = git(repo, "write-tree", env=env)
    return git(repo, "commit-tree", tree, "-p", parent, "-m", message)


# The executor port -----------------------------------------------------------------


@dataclass
class Dispatch:
    """One call of Executor.dispatch: which components, in which order, with what config."""

    session: str
    components: list[str]
    config: JobConfig


class FakeExecutor:
    """The child jobs: records dispatches and cancels; `finish` plays a job's ending."""

    def __init__(self, workspace: Workspace, store: Any) -> None:
        self.workspace, self.store = workspace, store
        self.dispatches: list[Dispatch] = []
        self.cancelled: list[str] = []
        self.resumed: list[str] = []
        self.bus: MessageBus | None = None

    @property
    def dispatched(self) -> list[str]:
        """Return every component dispatched so far, in dispatch order."""
        return [name for d in self.dispatches for name in d.components]

    def dispatch(self, session: SessionRecord, children: list[ChildRecord],
                 config: JobConfig) -> None:
        """Mark the children dispatched (as a real executor does) and remember them."""
        started = [c.component for c in children if self.store.apply(
            ChildMoves.DISPATCH, c.id, dispatched_at=now())]
        if started:
            self.dispatches.append(Dispatch(session.id, started, config))

    def cancel(self, session: SessionRecord, children: list[ChildRecord]) -> None:
        """Remember which children were asked to stop."""
        self.cancelled += [c.component for c in children]

    def resume(self, session: SessionRecord, config: JobConfig) -> None:
        """Remember the resume (nothing is ever half-sent here)."""
        self.resumed.append(session.id)

    # What a test does -----------------------------------------------------------------

    def child(self, component: str, session_id: str | None = None) -> ChildRecord:
        """Return the newest session's child for `component` (or the given session's)."""
        if session_id is None:
            session_id = self.dispatches[-1].session if self.dispatches else None
        rows = [c for c in self.store.children(session_id, kind=None)
                if c.component == component]
        assert rows, f"no child {component!r} in session {session_id}"
        return rows[0]

    def result(self, component: str, status: str = "succeeded", *,
               tests: TestCounts | None = None, files: dict[str, str | None] | None = None,
               message: str = "", session_id: str | None = None,
               commit: bool = True, usage: Usage | None = None) -> tuple[str, ChildResult]:
        """Commit the child's work to its child branch and return (child id, its result).

        By default the job writes its implementation and test files and reports 3 passing
        tests; `files` replaces what it writes (None deletes a file).
        """
        child = self.child(component, session_id)
        spec = child.spec
        if files is None:
            files = {spec["implementation"]: f"# {component}\nVALUE = 1\n",
                     spec["test"]: f"def test_{component}():\n    assert True\n"}
        sha = None
        if commit and status == "succeeded":
            sha = self.workspace.commit(child.start_sha, files, f"ccs: {component}")
            self.workspace.set_branch(child.branch, sha)
        if tests is None:
            tests = TestCounts(passed=3) if status == "succeeded" else TestCounts(failed=1)
        return child.id, ChildResult(
            status=status, commit=sha, branch=child.branch, attempts=1, tests=tests,
            changed_files=tuple(sorted(files)), message=message, usage=usage)

    def finish(self, component: str, status: str = "succeeded", **kwargs) -> str:
        """Play one child job's ending through the bus; return what it answered."""
        assert self.bus is not None, "bind the bus first"
        child_id, result = self.result(component, status, **kwargs)
        return self.bus.handle(RecordChildResult(child_id, result, REPOSITORY)).outcome

    def finish_all(self, status: str = "succeeded") -> None:
        """Finish every child still dispatched, in spawn order."""
        session_id = self.dispatches[-1].session
        for child in self.store.children(session_id):
            if child.status == ChildStatus.DISPATCHED:
                self.finish(child.component, status, session_id=session_id)


# The verifier port -----------------------------------------------------------------


@dataclass
class FakeVerifier:
    """The verify job: passes unless told to fail; records the commits it was asked about."""

    passes: bool = True
    message: str = "verify passed"
    commits: list[str] = field(default_factory=list)

    def resend(self, session: SessionRecord, commit: str, config: JobConfig,
               row: ChildRecord) -> None:
        """Nothing to resend: this verdict is given at once."""

    def verify(self, session: SessionRecord, commit: str, config: JobConfig,
               row: ChildRecord) -> ChildResult:
        """Return this fake's verdict on `commit` at once."""
        self.commits.append(commit)
        return ChildResult(status="succeeded" if self.passes else "failed", commit=commit,
                           branch=None, attempts=1, tests=TestCounts(passed=1),
                           message=self.message)


# The stage -------------------------------------------------------------------------


def manifest_text(components: dict[str, int], *, context: str = "catalog",
                  allow: dict[str, list[str]] | None = None, verify: bool = False,
                  budget: dict | None = None, needs: dict[str, list[str]] | None = None,
                  integration: int | None = None) -> str:
    """Return a manifest for one context whose components have the given priorities (and
    needs, DESIGN §3b; `integration` rounds need `verify`)."""
    listed = []
    for name, priority in components.items():
        entry: dict = {"name": name, "priority": priority}
        if allow and name in allow:
            entry["allow"] = allow[name]
        if needs and name in needs:
            entry["needs"] = needs[name]
        listed.append(entry)
    body: dict = {
        "version": 1,
        "coder": {"command": ["python", "tools/coder.py"], "timeout": 60, "attempts": 2},
        "test": {"command": ["python", "-m", "pytest", "-q", "{test}"], "timeout": 60},
        "contexts": {context: {"description": "test context", "components": listed}},
    }
    if verify:
        body["verify"] = {"command": ["python", "-m", "pytest", "-q"]}
    if budget:
        body["budget"] = budget
    if integration:
        body["integration"] = {"attempts": integration}
    return yaml.safe_dump(body, sort_keys=False)


class FakeClock:
    """The Clock port: the real time plus however far a test moved it."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        """Return the moved time."""
        return now() + self.offset

    def move(self, by: timedelta) -> None:
        """Move the clock forward."""
        self.offset += by


class Workspace:
    """Where the project's commits live: a real git repository (a fake's view of it)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def commit(self, parent: str | None, files: dict[str, str | None], message: str) -> str:
        """Commit `files` on top of `parent` without a checkout; return the sha."""
        assert parent is not None
        return commit_files(self.path, parent, files, message)

    def set_branch(self, branch: str, sha: str) -> None:
        """Point a branch at a commit."""
        git(self.path, "update-ref", f"refs/heads/{branch}", sha)

    def rev_parse(self, ref: str) -> str:
        """Return the sha a ref names."""
        return git(self.path, "rev-parse", ref)

    def show(self, ref: str, path: str) -> str:
        """Return a file's text at a ref."""
        return git(self.path, "show", f"{ref}:{path}")

    def message(self, ref: str) -> str:
        """Return a commit's message."""
        return git(self.path, "log", "-1", "--format=%B", ref)

    def branch_sha(self, branch: str) -> str | None:
        """Return a branch's sha, or None when it does not exist."""
        done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
                              cwd=self.path, capture_output=True, text=True, check=False)
        return done.stdout.strip() or None

    def delete_branch(self, branch: str) -> None:
        """Delete a branch."""
        git(self.path, "update-ref", "-d", f"refs/heads/{branch}")

    def is_clean(self) -> bool:
        """Return True when the user's checkout has no changes."""
        return git(self.path, "status", "--porcelain") == ""

    def advance_main(self, sha: str) -> None:
        """Move main to `sha` as the user would (checkout follows)."""
        git(self.path, "update-ref", "refs/heads/main", sha)
        git(self.path, "reset", "--quiet", "--hard", "main")


class MemoryWorkspace(Workspace):
    """The same view over MemoryGit (no git at all)."""

    def __init__(self, memory: MemoryGit) -> None:
        self.memory = memory

    def commit(self, parent: str | None, files: dict[str, str | None], message: str) -> str:
        """Commit `files` on top of `parent`; return the sha."""
        return self.memory.commit(parent, files, message)

    def set_branch(self, branch: str, sha: str) -> None:
        """Point a branch at a commit."""
        self.memory.set_ref(branch, sha)

    def rev_parse(self, ref: str) -> str:
        """Return the sha a ref names."""
        return self.memory.resolve(ref)

    def show(self, ref: str, path: str) -> str:
        """Return a file's text at a ref (stripped, as the git view gives it)."""
        return self.memory.show(ref, path).strip()

    def message(self, ref: str) -> str:
        """Return a commit's message (stripped, as the git view gives it)."""
        return self.memory.message(ref).strip()

    def branch_sha(self, branch: str) -> str | None:
        """Return a branch's sha, or None."""
        return self.memory.refs.get(branch)

    def delete_branch(self, branch: str) -> None:
        """Delete a branch."""
        del self.memory.refs[branch]

    def is_clean(self) -> bool:
        """There is no checkout to dirty."""
        return True

    def advance_main(self, sha: str) -> None:
        """Move main to `sha`."""
        self.memory.set_ref("main", sha)


@dataclass
class Project:
    """A repository with a manifest, a store, a host and the fake jobs, wired to one bus."""

    path: Path
    store: Any
    executor: FakeExecutor
    verifier: FakeVerifier
    bus: MessageBus
    workspace: Workspace
    clock: FakeClock
    context: str = "catalog"

    @classmethod
    def create(cls, tmp_path: Path, components: dict[str, int], *,
               allow: dict[str, list[str]] | None = None, verify: bool = False,
               database_url: str | None = None, backend: str = "git",
               budget: dict | None = None, needs: dict[str, list[str]] | None = None,
               integration: int | None = None) -> Project:
        """Make the repository (branch main, one commit) and wire the bus."""
        files = {MANIFEST: manifest_text(components, allow=allow, verify=verify,
                                         budget=budget, needs=needs, integration=integration)}
        for name in components:
            files[f"docs/design/catalog/{name}.md"] = f"# {name}\n"
        path = tmp_path / "repo"
        if backend == "memory":
            memory = MemoryGit()
            memory.set_ref("main", memory.commit(None, files, "design docs and manifest"))
            store: Any = MemoryStore()
            workspace: Workspace = MemoryWorkspace(memory)
            git_port: Any = memory
            host: Any = MemoryHost(memory)
        else:
            store, git_port, host = _real_backend(tmp_path, path, files, database_url)
            workspace = Workspace(path)
        executor = FakeExecutor(workspace, store)
        verifier = FakeVerifier()
        clock = FakeClock()
        bus = MessageBus(Ports(store=store, git=git_port, host=host, executor=executor,
                               parse_manifest=parse_manifest,
                               verifier=verifier if verify else None, clock=clock))
        executor.bus = bus
        return cls(path, store, executor, verifier, bus, workspace, clock)

    @property
    def ports(self) -> Ports:
        """Return the ports the bus runs on."""
        return self.bus.ports

    def start(self, **kwargs: Any) -> SessionRecord:
        """Start a session for the context on main (StartSession's fields as keywords)."""
        if "components" in kwargs:
            kwargs["components"] = tuple(kwargs["components"] or ())
        kwargs.setdefault("base", "main")
        kwargs.setdefault("repository", REPOSITORY)
        kwargs.setdefault("context", self.context)
        kwargs.setdefault("source", "cli")
        return self.bus.handle(StartSession(**kwargs))

    def retry(self, session_id: str, repository: str | None = None) -> SessionRecord:
        """Hand the bus a RetrySession, as `ccs retry` does."""
        return self.bus.handle(RetrySession(repository=repository or "", session_id=session_id))

    def cancel(self, session_id: str, repository: str | None = None) -> SessionRecord:
        """Hand the bus a CancelSession, as `ccs cancel` does."""
        return self.bus.handle(CancelSession(repository=repository or "",
                                             session_id=session_id))

    def record(self, child_id: str, result: ChildResult, repository: str | None = None,
               fan_in: bool = True) -> str:
        """Hand the bus a child's result; return 'accepted' or 'duplicate'.

        With fan_in=False only the result is stored, as the callback route does (what
        follows is then a queue task's job).
        """
        if not fan_in:
            child, session = find_child(self.store, child_id, repository)
            return record_result(self.store, child, session, result, self.clock.now()).outcome
        return self.bus.handle(RecordChildResult(child_id, result, repository)).outcome

    def time_out(self, seconds: int) -> list[str]:
        """Time out the children silent for `seconds` by the project's clock."""
        return self.bus.time_out_silent_children(seconds)

    def session(self, session_id: str) -> SessionRecord:
        """Return the session as stored now."""
        return self.store.session(session_id)

    def children(self, session_id: str) -> dict[str, ChildRecord]:
        """Return the session's children by component."""
        return {c.component: c for c in self.store.children(session_id)}

    def steps(self, session_id: str) -> list[str]:
        """Return the interaction log's step names, oldest first."""
        return [i.step for i in self.store.interactions(session_id)]

    def commit_on_main(self, files: dict[str, str | None], message: str) -> str:
        """Commit to main (as the user would) and return the new head."""
        sha = self.workspace.commit(self.workspace.rev_parse("main"), files, message)
        self.workspace.advance_main(sha)
        return sha

    def branch_sha(self, branch: str) -> str | None:
        """Return a branch's sha, or None when it does not exist."""
        return self.workspace.branch_sha(branch)


def _real_backend(tmp_path: Path, path: Path, files: dict[str, str],
                  database_url: str | None) -> tuple[Any, Any, Any]:
    """Return a real store, repository and LocalHost over a fresh git repository."""
    from service.adapters.db.engine import make_engine, upgrade
    from service.adapters.db.store import Store
    from service.adapters.git_repo import GitRepository
    from service.adapters.local.host import LocalHost

    path.mkdir()
    git(path, "init", "--quiet", "--initial-branch=main")
    for relative, content in files.items():
        (path / relative).parent.mkdir(parents=True, exist_ok=True)
        (path / relative).write_text(content)
    git(path, "add", "-A")
    git(path, "commit", "--quiet", "-m", "design docs and manifest")
    url = database_url or f"sqlite:///{tmp_path / 'ccs.db'}"
    engine = make_engine(url)
    upgrade(url, engine)
    repo = GitRepository(path)
    return Store(engine), repo, LocalHost(repo)


# Databases -------------------------------------------------------------------------


@contextmanager
def scratch_postgres(url: str) -> Iterator[str]:
    """Create a throwaway PostgreSQL database next to `url`, yield its URL, drop it after."""
    name = f"ccs_test_{secrets.token_hex(6)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    scratch = make_url(url).set(database=name).render_as_string(hide_password=False)
    try:
        yield scratch
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def migrated_store(backend: str, tmp_path: Path,
                   postgres_url: Callable[[], str]) -> Iterator[Any]:
    """Yield a Store on a fresh, migrated SQLite file or PostgreSQL database (`backend`
    "sqlite" or "postgres"); migrations run twice, since they must be safe to re-run."""
    from service.adapters.db.engine import make_engine, upgrade
    from service.adapters.db.store import Store

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'ccs.db'}"
        engine = make_engine(url)
        upgrade(url, engine)
        upgrade(url, engine)
        try:
            yield Store(engine)
        finally:
            engine.dispose()
        return
    with scratch_postgres(postgres_url()) as url:
        upgrade(url)
        upgrade(url)
        engine = make_engine(url)
        try:
            yield Store(engine)
        finally:
            engine.dispose()
