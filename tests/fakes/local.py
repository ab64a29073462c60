"""One stateful fake per orchestrator port, over a real temporary git repository.

`Project` is the story's stage: a git repository with a manifest and design docs, a real
SQLite (or PostgreSQL) store, the real LocalHost, and two fakes: `FakeExecutor` stands in
for the child jobs (it records what was dispatched and cancelled; a test finishes a child
by committing real files to its child branch), and `FakeVerifier` for the verify job.

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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service.adapters.db.engine import make_engine, upgrade
from service.adapters.db.models import ChildRow, SessionRow, utcnow
from service.adapters.db.store import Store
from service.adapters.git_repo import GitRepository
from service.adapters.local.host import LocalHost
from service.domain.states import ChildStatus
from service.domain.wire import ChildResult, JobConfig, TestCounts
from service.orchestrator.core import Orchestrator

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

    def __init__(self, repo_path: Path, store: Store) -> None:
        self.repo_path, self.store = repo_path, store
        self.dispatches: list[Dispatch] = []
        self.cancelled: list[str] = []
        self.orchestrator: Orchestrator | None = None

    @property
    def dispatched(self) -> list[str]:
        """Return every component dispatched so far, in dispatch order."""
        return [name for d in self.dispatches for name in d.components]

    def dispatch(self, session: SessionRow, children: list[ChildRow], config: JobConfig) -> None:
        """Mark the children dispatched (as a real executor does) and remember them."""
        started = [c.component for c in children if self.store.move_child(
            c.id, ChildStatus.DISPATCHED, only_from=[ChildStatus.PENDING],
            start_sha=session.base_sha, dispatched_at=utcnow())]
        if started:
            self.dispatches.append(Dispatch(session.id, started, config))

    def cancel(self, session: SessionRow, children: list[ChildRow]) -> None:
        """Remember which children were asked to stop."""
        self.cancelled += [c.component for c in children]

    # What a test does -----------------------------------------------------------------

    def child(self, component: str, session_id: str | None = None) -> ChildRow:
        """Return the newest session's child for `component` (or the given session's)."""
        if session_id is None:
            session_id = self.dispatches[-1].session if self.dispatches else None
        rows = [c for c in self.store.children(session_id) if c.component == component]
        assert rows, f"no child {component!r} in session {session_id}"
        return rows[0]

    def result(self, component: str, status: str = "succeeded", *,
               tests: TestCounts | None = None, files: dict[str, str | None] | None = None,
               message: str = "", session_id: str | None = None,
               commit: bool = True) -> tuple[str, ChildResult]:
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
            sha = commit_files(self.repo_path, child.start_sha, files, f"ccs: {component}")
            git(self.repo_path, "update-ref", f"refs/heads/{child.branch}", sha)
        if tests is None:
            tests = TestCounts(passed=3) if status == "succeeded" else TestCounts(failed=1)
        return child.id, ChildResult(
            status=status, commit=sha, branch=child.branch, attempts=1, tests=tests,
            changed_files=tuple(sorted(files)), message=message)

    def finish(self, component: str, status: str = "succeeded", **kwargs) -> str:
        """Play one child job's ending through record_result; return what it answered."""
        assert self.orchestrator is not None, "bind the orchestrator first"
        child_id, result = self.result(component, status, **kwargs)
        return self.orchestrator.record_result(child_id, result, repository=REPOSITORY)

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

    def verify(self, session: SessionRow, commit: str, config: JobConfig,
               row: ChildRow) -> ChildResult:
        """Return this fake's verdict on `commit` at once."""
        self.commits.append(commit)
        return ChildResult(status="succeeded" if self.passes else "failed", commit=commit,
                           branch=None, attempts=1, tests=TestCounts(passed=1),
                           message=self.message)


# The stage -------------------------------------------------------------------------


def manifest_text(components: dict[str, int], *, context: str = "catalog",
                  allow: dict[str, list[str]] | None = None, verify: bool = False) -> str:
    """Return a manifest for one context whose components have the given priorities."""
    listed = []
    for name, priority in components.items():
        entry: dict = {"name": name, "priority": priority}
        if allow and name in allow:
            entry["allow"] = allow[name]
        listed.append(entry)
    body: dict = {
        "version": 1,
        "coder": {"command": ["python", "tools/coder.py"], "timeout": 60, "attempts": 2},
        "test": {"command": ["python", "-m", "pytest", "-q", "{test}"], "timeout": 60},
        "contexts": {context: {"description": "test context", "components": listed}},
    }
    if verify:
        body["verify"] = {"command": ["python", "-m", "pytest", "-q"]}
    return yaml.safe_dump(body, sort_keys=False)


@dataclass
class Project:
    """A repository with a manifest, a store, the real host and the fake jobs."""

    path: Path
    store: Store
    executor: FakeExecutor
    verifier: FakeVerifier
    orchestrator: Orchestrator
    context: str = "catalog"

    @classmethod
    def create(cls, tmp_path: Path, components: dict[str, int], *,
               allow: dict[str, list[str]] | None = None, verify: bool = False,
               database_url: str | None = None) -> Project:
        """Make the repository (branch main, one commit) and wire the orchestrator."""
        path = tmp_path / "repo"
        path.mkdir()
        git(path, "init", "--quiet", "--initial-branch=main")
        files = {MANIFEST: manifest_text(components, allow=allow, verify=verify)}
        for name in components:
            files[f"docs/design/catalog/{name}.md"] = f"# {name}\n"
        for relative, content in files.items():
            (path / relative).parent.mkdir(parents=True, exist_ok=True)
            (path / relative).write_text(content)
        git(path, "add", "-A")
        git(path, "commit", "--quiet", "-m", "design docs and manifest")
        url = database_url or f"sqlite:///{tmp_path / 'ccs.db'}"
        engine = make_engine(url)
        upgrade(url, engine)
        store = Store(engine)
        repo = GitRepository(path)
        executor = FakeExecutor(path, store)
        verifier = FakeVerifier()
        orchestrator = Orchestrator(store=store, git=repo, host=LocalHost(repo),
                                    executor=executor, verifier=verifier if verify else None)
        executor.orchestrator = orchestrator
        return cls(path, store, executor, verifier, orchestrator)

    def start(self, **kwargs) -> SessionRow:
        """Start a session for the context on main."""
        return self.orchestrator.start(repository=REPOSITORY, context=self.context,
                                       base_ref="main", **kwargs)

    def session(self, session_id: str) -> SessionRow:
        """Return the session as stored now."""
        return self.store.session(session_id)

    def children(self, session_id: str) -> dict[str, ChildRow]:
        """Return the session's children by component."""
        return {c.component: c for c in self.store.children(session_id)}

    def steps(self, session_id: str) -> list[str]:
        """Return the interaction log's step names, oldest first."""
        return [i.step for i in self.store.interactions(session_id)]

    def commit_on_main(self, files: dict[str, str | None], message: str) -> str:
        """Commit to main (as the user would) and return the new head."""
        sha = commit_files(self.path, git(self.path, "rev-parse", "main"), files, message)
        git(self.path, "update-ref", "refs/heads/main", sha)
        git(self.path, "reset", "--quiet", "--hard", "main")
        return sha

    def branch_sha(self, branch: str) -> str | None:
        """Return a branch's sha, or None when it does not exist."""
        done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
                              cwd=self.path, capture_output=True, text=True, check=False)
        return done.stdout.strip() or None


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
