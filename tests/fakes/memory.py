"""In-memory stand-ins for the orchestrator's Store, Git and Host ports: no database, no git.

They hold state like the real ones (compare-and-set moves, commits with parents, refs) so an
orchestrator story reads the same against them as against SQLite and a real repository.

    store, git = MemoryStore(), MemoryGit()
    base = git.commit(None, {".github/ccs.yml": text}, "manifest")
    git.set_ref("main", base)
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from service.domain.bundles import BadBundle
from service.domain.names import is_own_ref
from service.domain.spend import Usage
from service.domain.states import ChildMove, ChildStatus, SessionMove
from service.orchestrator.ports import (
    ChildFinish,
    Finished,
    GitError,
    MergeOutcome,
    NewChild,
    NewSession,
    NotFound,
)


def now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


# Store -----------------------------------------------------------------------------


@dataclass
class SessionData:
    """A session as the memory store keeps it (the fields of SessionRecord)."""

    id: str
    repository: str
    context: str
    branch: str
    base_ref: str
    base_sha: str | None
    manifest_path: str
    parallel: int | None
    requested_components: list[Any] | None = None
    installation_id: int | None = None
    issue_number: int | None = None
    requested_by: str | None = None
    source: str = "cli"
    push: bool = False
    status: str = "pending"
    round: int = 1
    message: str = ""
    merged_commit: str | None = None
    final_commit: str | None = None
    pull_request_url: str | None = None
    tracking_comment_id: int | None = None
    budget: dict[str, Any] | None = None
    delivery_id: str | None = None
    spawned_at: datetime | None = None
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)


@dataclass
class ChildData:
    """A child as the memory store keeps it (the fields of ChildRecord)."""

    id: str
    session_id: str
    kind: str
    component: str
    position: int
    branch: str
    round: int
    spec: dict[str, Any] = field(default_factory=dict)
    start_sha: str | None = None
    status: str = "pending"
    commit: str | None = None
    attempts: int = 0
    tests_passed: int = 0
    tests_failed: int = 0
    tests_errors: int = 0
    tests_skipped: int = 0
    changed_files: list[Any] | None = None
    message: str = ""
    run_id: int | None = None
    job_id: int | None = None
    run_url: str | None = None
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    dispatched_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime = field(default_factory=now)


@dataclass(frozen=True)
class Interaction:
    """One line of a session's interaction log."""

    session_id: str
    step: str
    command: Any
    result: Any
    ok: bool
    created_at: datetime = field(default_factory=now)


@dataclass(frozen=True)
class Event:
    """One event of a session's stream (the fields of EventRecord)."""

    id: int
    session_id: str
    kind: str
    child_id: str | None = None
    status: str | None = None
    data: dict[str, Any] | None = None
    created_at: datetime = field(default_factory=now)


class MemoryStore:
    """The Store port over dicts; every read returns a copy, like rows read from a database."""

    def __init__(self) -> None:
        self._sessions: dict[str, SessionData] = {}
        self._children: dict[str, ChildData] = {}
        self._log: list[Interaction] = []
        self._bundles: dict[str, bytes] = {}
        self._events: list[Event] = []
        self.seen_tokens: set[str] = set()
        self._lock = threading.RLock()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Hold the store's lock for the block (one transaction)."""
        with self._lock:
            yield

    def add_session(self, new: NewSession) -> SessionData:
        """Insert a pending session."""
        with self._lock:
            row = SessionData(**vars(new))
            self._sessions[row.id] = row
            return _copy(row)

    def session(self, session_id: str, repository: str | None = None) -> SessionData:
        """Return the session, or raise NotFound (also another repository's)."""
        with self._lock:
            row = self._sessions.get(session_id)
            if row is None or (repository is not None and row.repository != repository):
                raise NotFound(f"no session {session_id!r}" + (
                    f" in {repository}" if repository else ""))
            return _copy(row)

    def session_for_delivery(self, delivery_id: str) -> SessionData | None:
        """Return the session a webhook delivery started, if any."""
        with self._lock:
            found = [s for s in self._sessions.values() if s.delivery_id == delivery_id]
            return _copy(found[0]) if found else None

    def sessions(self, repository: str | None, status: str | None = None,
                 limit: int = 50) -> list[SessionData]:
        """Return sessions newest first."""
        with self._lock:
            rows = [r for r in self._sessions.values()
                    if (repository is None or r.repository == repository)
                    and (status is None or r.status == status)]
        return [_copy(r) for r in sorted(rows, key=lambda r: r.created_at, reverse=True)][:limit]

    def update_session(self, session_id: str, **values: Any) -> None:
        """Set fields without changing the status."""
        with self._lock:
            _set(self._sessions[session_id], values)

    def add_children(self, new: Iterable[NewChild]) -> set[str]:
        """Insert children; return the components that already existed."""
        existed = set()
        with self._lock:
            for child in new:
                taken = {(c.session_id, c.component) for c in self._children.values()}
                if (child.session_id, child.component) in taken:
                    existed.add(child.component)
                    continue
                self._children[child.id] = ChildData(**vars(child))
        return existed

    def children(self, session_id: str, kind: str | None = "component") -> list[ChildData]:
        """Return the session's children in spawn order."""
        with self._lock:
            rows = [c for c in self._children.values() if c.session_id == session_id
                    and (kind is None or c.kind == kind)]
            return [_copy(c) for c in sorted(rows, key=lambda c: c.position)]

    def child_with_session(self, child_id: str) -> tuple[ChildData, SessionData]:
        """Return a child and its session, or raise NotFound."""
        with self._lock:
            child = self._children.get(child_id)
            if child is None:
                raise NotFound(f"no child {child_id!r}")
            return _copy(child), _copy(self._sessions[child.session_id])

    def update_child(self, child_id: str, **values: Any) -> None:
        """Set fields without changing the status."""
        with self._lock:
            _set(self._children[child_id], values)

    def delete_children(self, session_id: str, kind: str) -> None:
        """Delete the session's children of one kind."""
        with self._lock:
            for child_id in [i for i, c in self._children.items()
                             if c.session_id == session_id and c.kind == kind]:
                del self._children[child_id]

    def apply(self, move: SessionMove | ChildMove, record_id: str, **values: Any) -> bool:
        """Make the named move if the record is in one of its sources (compare-and-set)."""
        with self._lock:
            table: dict = self._sessions if isinstance(move, SessionMove) else self._children
            row = table.get(record_id)
            if row is None or row.status not in {s.value for s in move.sources}:
                return False
            _set(row, {**values, "status": move.target.value})
            if isinstance(move, SessionMove):
                self.add_event(record_id, "session", status=move.target.value)
            else:
                self.add_event(row.session_id, "child", record_id, move.target.value)
            return True

    def apply_to_all(self, move: ChildMove, child_ids: list[str], **values: Any) -> list[str]:
        """Make the named move on many children; return the ids that moved."""
        with self._lock:
            return [i for i in child_ids if self.apply(move, i, **values)]

    def child_status_counts(self, session_id: str,
                            kind: str | None = "component") -> dict[str, int]:
        """Return how many of the session's children are in each status."""
        counts: dict[str, int] = {}
        for child in self.children(session_id, kind):
            counts[child.status] = counts.get(child.status, 0) + 1
        return counts

    def silent_children(self, older_than: datetime,
                        repository: str | None = None) -> list[ChildData]:
        """Return active children not heard from since `older_than`."""
        active = {ChildStatus.DISPATCHED.value, ChildStatus.RUNNING.value}
        with self._lock:
            return [_copy(c) for c in self._children.values()
                    if c.status in active and c.updated_at < older_than
                    and (repository is None
                         or self._sessions[c.session_id].repository == repository)]

    def usage(self, session_id: str, round: int | None = None) -> Usage:
        """Return what the session's component children spent (of one round, or all)."""
        total = Usage()
        for child in self.children(session_id):
            if round is None or child.round == round:
                total += Usage(child.cost_usd, child.input_tokens, child.output_tokens)
        return total

    def save_bundle(self, child_id: str, data: bytes) -> None:
        """Keep a child's bundle."""
        with self._lock:
            self._bundles[child_id] = bytes(data)

    def bundle(self, child_id: str) -> bytes | None:
        """Return a child's kept bundle."""
        return self._bundles.get(child_id)

    def drop_bundle(self, child_id: str) -> None:
        """Forget a child's bundle."""
        with self._lock:
            self._bundles.pop(child_id, None)

    def log(self, session_id: str, step: str, command: Any, result: Any,
            ok: bool = True) -> None:
        """Append to the session's interaction log."""
        with self._lock:
            self._log.append(Interaction(session_id, step, command, result, ok))

    def finish_child(self, finish: ChildFinish) -> Finished:
        """Record the token id, make the move and log it, and count what is still active."""
        with self._lock:
            if finish.token is not None:
                if finish.token[0] in self.seen_tokens:
                    return Finished(False, False, 0, 0)
                self.seen_tokens.add(finish.token[0])
            if not self.apply(finish.move, finish.child_id, **finish.fields):
                return Finished(True, False, 0, 0)
            self.log(finish.session_id, finish.step, finish.command, finish.result, finish.ok)
            children = self.children(finish.session_id)
            active = sum(not ChildStatus(c.status).is_terminal for c in children)
            return Finished(True, True, active, len(children))

    def interactions(self, session_id: str) -> list[Interaction]:
        """Return the session's interaction log, oldest first."""
        with self._lock:
            return [i for i in self._log if i.session_id == session_id]

    def add_event(self, session_id: str, kind: str, child_id: str | None = None,
                  status: str | None = None, data: dict[str, Any] | None = None) -> None:
        """Append an event with the next id."""
        with self._lock:
            self._events.append(Event(len(self._events) + 1, session_id, kind, child_id,
                                      status, dict(data) if data else None))

    def events(self, session_id: str, after: int = 0, limit: int = 500) -> list[Event]:
        """Return the session's events after `after`, oldest first."""
        with self._lock:
            return [e for e in self._events
                    if e.session_id == session_id and e.id > after][:limit]


def _copy(row: Any) -> Any:
    return type(row)(**{f.name: getattr(row, f.name) for f in fields(row)})


def _set(row: Any, values: dict[str, Any]) -> None:
    for name, value in values.items():
        if not hasattr(row, name):
            raise AttributeError(f"{type(row).__name__} has no field {name!r}")
        setattr(row, name, value)
    row.updated_at = now()


# Git -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Commit:
    """A commit: its whole tree (path → text), its parents and message."""

    tree: str
    parents: tuple[str, ...]
    message: str


class MemoryGit:
    """The Git port over dicts: commits hold whole trees, merges are per file."""

    def __init__(self) -> None:
        self.trees: dict[str, dict[str, str]] = {}
        self.commits: dict[str, Commit] = {}
        self.refs: dict[str, str] = {}
        self._counter = itertools.count()

    # What a test does -----------------------------------------------------------------

    def commit(self, parent: str | None, files: dict[str, str | None], message: str) -> str:
        """Commit `files` (None deletes one) on top of `parent`; return the sha."""
        tree = dict(self.trees[self.commits[parent].tree]) if parent else {}
        for path, content in files.items():
            if content is None:
                tree.pop(path, None)
            else:
                tree[path] = content
        return self.commit_tree(self._tree_id(tree), [parent] if parent else [], message)

    def set_ref(self, branch: str, sha: str) -> None:
        """Point a branch at a commit."""
        self.refs[branch] = sha

    def show(self, ref: str, path: str) -> str:
        """Return a file's text at a ref (raise GitError when absent)."""
        text = self.read_file(self.resolve(ref), path)
        if text is None:
            raise GitError(f"no {path} at {ref}")
        return text

    def message(self, ref: str) -> str:
        """Return a commit's message."""
        return self.commits[self.resolve(ref)].message

    # The Git port ---------------------------------------------------------------------

    def resolve(self, ref: str) -> str:
        """Return the sha a branch, refs/heads/ name or sha names."""
        name = ref.removeprefix("refs/heads/")
        if name in self.refs:
            return self.refs[name]
        if ref in self.commits:
            return ref
        if ref.endswith("^") and ref[:-1] in self.commits:
            return self.commits[ref[:-1]].parents[0]
        raise GitError(f"unknown revision {ref!r}")

    def read_file(self, commit: str, path: str) -> str | None:
        """Return a file's text at a commit, or None."""
        return self.trees[self.commits[commit].tree].get(path)

    def blob_sizes(self, commit: str, paths: list[str]) -> dict[str, int | None]:
        """Return each path's size in bytes at the commit (None when absent)."""
        tree = self.trees[self.commits[commit].tree]
        return {p: len(tree[p].encode()) if p in tree else None for p in paths}

    def changed_files(self, base: str, commit: str) -> list[str]:
        """Return the paths that differ between two commits."""
        old, new = (self.trees[self.commits[c].tree] for c in (base, commit))
        return sorted(p for p in set(old) | set(new) if old.get(p) != new.get(p))

    def symlinks(self, commit: str, paths: list[str]) -> list[str]:
        """Return the paths that are symlinks (memory trees hold only regular files)."""
        return []

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Return True when `ancestor` is reachable from `descendant`."""
        return ancestor in self._ancestors(descendant)

    def merge_tree(self, ours: str, theirs: str) -> MergeOutcome:
        """Merge per file against the nearest common ancestor (conflict: both changed it)."""
        common = self._ancestors(ours) & self._ancestors(theirs)
        base_commit = max(common, key=lambda c: len(self._ancestors(c)), default=None)
        base = self.trees[self.commits[base_commit].tree] if base_commit else {}
        a, b = (self.trees[self.commits[c].tree] for c in (ours, theirs))
        merged, conflicts = {}, []
        for path in sorted(set(base) | set(a) | set(b)):
            mine, yours, was = a.get(path), b.get(path), base.get(path)
            if mine == yours or yours == was:
                value = mine
            elif mine == was:
                value = yours
            else:
                conflicts.append(path)
                continue
            if value is not None:
                merged[path] = value
        if conflicts:
            return MergeOutcome(None, tuple(conflicts))
        return MergeOutcome(self._tree_id(merged))

    def commit_tree(self, tree: str, parents: list[str], message: str) -> str:
        """Record a commit of `tree` and return its sha."""
        sha = hashlib.sha1(f"{tree} {parents} {message} {next(self._counter)}".encode(),
                           usedforsecurity=False).hexdigest()
        self.commits[sha] = Commit(tree, tuple(parents), message)
        return sha

    def _tree_id(self, tree: dict[str, str]) -> str:
        tree_id = hashlib.sha1(repr(sorted(tree.items())).encode(),
                               usedforsecurity=False).hexdigest()
        self.trees[tree_id] = dict(tree)
        return tree_id

    def _ancestors(self, sha: str) -> set[str]:
        seen, todo = set(), [sha]
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo += self.commits[current].parents
        return seen


class MemoryHost:
    """The Host port over MemoryGit: branches are refs; publishing is a fast-forward."""

    def __init__(self, git: MemoryGit, default: str = "main") -> None:
        self.git = git
        self.default = default
        self.published: list[tuple[str, str]] = []
        self.waves: list[tuple[int, str]] = []

    def default_base(self) -> str:
        """Return the default branch."""
        return self.default

    def check_base(self, ref: str) -> None:
        """Memory branches hold only committed work."""

    def base_head(self, ref: str) -> str:
        """Return the commit the ref names."""
        return self.git.resolve(ref)

    def prepare_children(self, session: Any, children: list) -> None:
        """Nothing to fetch."""

    def receive_bundle(self, session: Any, child: Any, bundle: bytes) -> None:
        """Memory commits travel by reference: a bundle here is always refused."""
        raise BadBundle("the memory host takes no bundles")

    def set_session_branch(self, session: Any, sha: str) -> None:
        """Create or move the session branch (only ccs's own refs)."""
        assert is_own_ref(session.branch)
        self.git.set_ref(session.branch, sha)

    def start_wave(self, session: Any, wave: int, sha: str) -> None:
        """Remember which commit a wave starts from."""
        self.waves.append((wave, sha))

    def publish(self, session: Any, sha: str) -> None:
        """Fast-forward the session branch; refuse when it moved outside ccs."""
        current = self.git.refs.get(session.branch)
        if current and current != sha and not self.git.is_ancestor(current, sha):
            raise GitError(f"{session.branch} moved to {current[:12]} outside ccs; "
                           "refusing to overwrite it")
        self.git.set_ref(session.branch, sha)
        self.published.append((session.branch, sha))

    def open_pull_request(self, session: Any, title: str, body: str,
                          draft: bool) -> str | None:
        """No pull requests here (like local mode)."""
        return None
