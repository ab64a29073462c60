"""The narrow ports the orchestrator owns, one Protocol per outside system, with their types.

Adapters implement these (service/adapters/…); tests use the in-memory fakes in
tests/fakes/memory.py. Nothing here imports an adapter, a database or a git library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from service.domain.manifest import Manifest
from service.domain.spend import Usage
from service.domain.states import ChildMove, SessionMove
from service.domain.wire import ChildResult, JobConfig

# Records ---------------------------------------------------------------------------


class SessionRecord(Protocol):
    """A stored session as the steps read it."""

    id: str
    repository: str
    installation_id: int | None
    context: str
    status: str
    branch: str
    base_ref: str
    base_sha: str | None
    manifest_path: str
    requested_components: list[Any] | None
    issue_number: int | None
    requested_by: str | None
    source: str
    push: bool
    parallel: int | None
    round: int
    message: str
    merged_commit: str | None
    final_commit: str | None
    pull_request_url: str | None
    tracking_comment_id: int | None
    budget: dict[str, Any] | None
    spawned_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ChildRecord(Protocol):
    """A stored child (a component's job, or the verify job) as the steps read it."""

    id: str
    session_id: str
    kind: str
    component: str
    position: int
    spec: dict[str, Any]
    status: str
    round: int
    branch: str
    start_sha: str | None
    commit: str | None
    attempts: int
    tests_passed: int
    tests_failed: int
    tests_errors: int
    tests_skipped: int
    changed_files: list[Any] | None
    message: str
    run_id: int | None
    job_id: int | None
    run_url: str | None
    cost_usd: float
    input_tokens: int
    output_tokens: int
    dispatched_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


class EventRecord(Protocol):
    """One recorded change of a session: a status move or an attempt boundary."""

    id: int  # only grows: a watcher resumes after the last id it saw
    session_id: str
    kind: str  # "session" | "child" (status moves) | "progress" (an attempt boundary)
    child_id: str | None
    status: str | None  # the status a move went to
    data: dict[str, Any] | None  # progress: {"phase", "attempt", "attempts"}
    created_at: datetime


@dataclass(frozen=True)
class NewSession:
    """A session to record (status pending)."""

    id: str
    repository: str
    context: str
    branch: str
    base_ref: str
    base_sha: str
    manifest_path: str
    parallel: int
    requested_components: list[str] | None = None
    installation_id: int | None = None
    issue_number: int | None = None
    requested_by: str | None = None
    source: str = "cli"
    push: bool = False
    budget: dict[str, Any] | None = None
    delivery_id: str | None = None


@dataclass(frozen=True)
class NewChild:
    """A child to record (status pending)."""

    id: str
    session_id: str
    kind: str
    component: str
    position: int
    branch: str
    round: int
    spec: dict[str, Any] = field(default_factory=dict)
    start_sha: str | None = None


@dataclass(frozen=True)
class ChildFinish:
    """A child's result as one write: the token id, the move, its fields and the log line."""

    move: ChildMove
    child_id: str
    session_id: str
    fields: dict[str, Any]
    step: str  # the interaction log line written when the child moved
    command: Any
    result: Any
    ok: bool
    token: tuple[str, datetime] | None = None  # (id, keep until): recorded first, once


@dataclass(frozen=True)
class Finished:
    """What `Store.finish_child` did, and the session's component children after it."""

    fresh_token: bool  # False: the token id was used before, and nothing else was written
    moved: bool  # the compare-and-set moved the child (its first result)
    active: int  # component children still pending or active (only when moved)
    total: int  # component children of the session (only when moved)


# The store -------------------------------------------------------------------------


class Store(Protocol):
    """Sessions, children, the interaction log and the event stream; every status change is
    a named move, and every move an event."""

    def atomic(self) -> AbstractContextManager[None]:
        """Run every store call of this thread inside the block in one transaction."""

    def add_session(self, new: NewSession) -> SessionRecord: ...
    def session(self, session_id: str, repository: str | None = None) -> SessionRecord:
        """Return the session, or raise NotFound (also when it is another repository's)."""

    def update_session(self, session_id: str, **fields: Any) -> None: ...
    def session_for_delivery(self, delivery_id: str) -> SessionRecord | None:
        """Return the session a webhook delivery started, if any."""

    def add_children(self, new: Iterable[NewChild]) -> set[str]:
        """Insert the children; return the components that already existed (left as they
        were)."""

    def children(self, session_id: str, kind: str | None = "component") -> list[ChildRecord]:
        """Return the session's children (of one kind, or all with None) in spawn order."""

    def child_with_session(self, child_id: str) -> tuple[ChildRecord, SessionRecord]:
        """Return a child and its session, or raise NotFound."""

    def update_child(self, child_id: str, **fields: Any) -> None: ...
    def delete_children(self, session_id: str, kind: str) -> None: ...
    def apply(self, move: SessionMove | ChildMove, record_id: str, **fields: Any) -> bool:
        """Make the named move if the record is in one of its sources (compare-and-set)."""

    def apply_to_all(self, move: ChildMove, child_ids: list[str], **fields: Any) -> list[str]:
        """Make the named move on many children in one statement; return the ids moved."""

    def child_status_counts(self, session_id: str,
                            kind: str | None = "component") -> dict[str, int]: ...
    def silent_children(self, older_than: datetime,
                        repository: str | None = None) -> list[ChildRecord]: ...
    def usage(self, session_id: str, round: int | None = None) -> Usage:
        """Return what the session's component children spent (of one round, or all)."""

    def log(self, session_id: str, step: str, command: Any, result: Any,
            ok: bool = True) -> None: ...
    def save_bundle(self, child_id: str, data: bytes) -> None:
        """Keep the git bundle a child's job sent, until Validate takes it in (§6a)."""

    def bundle(self, child_id: str) -> bytes | None: ...
    def drop_bundle(self, child_id: str) -> None: ...
    # The event stream: every successful `apply`/`apply_to_all` records its own event in the
    # same transaction; attempt boundaries are added by whoever hears of them.
    def add_event(self, session_id: str, kind: str, child_id: str | None = None,
                  status: str | None = None, data: dict[str, Any] | None = None) -> None: ...
    def events(self, session_id: str, after: int = 0,
               limit: int = 500) -> list[EventRecord]:
        """Return the session's events with an id above `after`, oldest first."""
    def finish_child(self, finish: ChildFinish) -> Finished:
        """Record the token id, make the move and log it, and count the children still
        active, in one write: of concurrent last results, exactly one sees active == 0."""


class NotFound(LookupError):
    """No such session or child (in this repository)."""


# Git -------------------------------------------------------------------------------


class GitError(RuntimeError):
    """A git command failed; the message says which and why."""


@dataclass(frozen=True)
class MergeOutcome:
    """A merge-tree result: the tree, or None with the conflicting paths."""

    tree: str | None
    conflicts: tuple[str, ...] = ()


class Git(Protocol):
    """Objects and refs of the repository being worked on (a checkout or a mirror)."""

    def resolve(self, ref: str) -> str: ...
    def read_file(self, commit: str, path: str) -> str | None: ...
    def blob_sizes(self, commit: str, paths: list[str]) -> dict[str, int | None]: ...
    def changed_files(self, base: str, commit: str) -> list[str]: ...
    def symlinks(self, commit: str, paths: list[str]) -> list[str]: ...
    def is_ancestor(self, ancestor: str, descendant: str) -> bool: ...
    def merge_tree(self, ours: str, theirs: str) -> MergeOutcome: ...
    def commit_tree(self, tree: str, parents: list[str], message: str) -> str: ...


# Where the session lives, who runs children, who tells people ---------------------


class Host(Protocol):
    """Where the session's branches live and how a finished session is published."""

    def default_base(self) -> str:
        """Return the base a session starts from when neither request nor manifest names
        one (local mode: the current branch; service mode: the default branch)."""

    def check_base(self, ref: str) -> None:
        """Raise BadInput when starting from `ref` would silently leave work out."""

    def base_head(self, ref: str) -> str:
        """Return the commit the base ref names now, fetching it first where needed."""

    def prepare_children(self, session: SessionRecord, children: list[ChildRecord]) -> None:
        """Make the children's commits readable through Git (fetch them, in service mode)."""

    def receive_bundle(self, session: SessionRecord, child: ChildRecord,
                       bundle: bytes) -> None:
        """Check a child's bundle (one ref, its commit, on its start) and push its child
        branch with ccs's own credentials; raise BadBundle saying why it was refused, GitError
        when git or the host failed (the bundle is kept for another try)."""

    def set_session_branch(self, session: SessionRecord, sha: str) -> None:
        """Create the session branch at `sha`, or move it there (it has no own commits yet)."""

    def start_wave(self, session: SessionRecord, wave: int, sha: str) -> None:
        """Make `sha` (the base plus the earlier waves' work) what the jobs of dependency
        wave `wave` check out: its wave branch (a no-op where jobs read commits directly)."""

    def publish(self, session: SessionRecord, sha: str) -> None:
        """Fast-forward the session branch to `sha` and push it where configured."""

    def open_pull_request(self, session: SessionRecord, title: str, body: str,
                          draft: bool) -> str | None:
        """Open (or find) the session's pull request and return its URL."""


class Executor(Protocol):
    """Runs child jobs somewhere; their results come back as RecordChildResult commands."""

    def dispatch(self, session: SessionRecord, children: list[ChildRecord],
                 config: JobConfig) -> None:
        """Start the given pending children; must not start one twice."""

    def cancel(self, session: SessionRecord, children: list[ChildRecord]) -> None:
        """Stop the given children if they are still running."""

    def resume(self, session: SessionRecord, config: JobConfig) -> None:
        """Finish the sends a crash left half-done (a no-op where sends cannot be lost)."""


class Verifier(Protocol):
    """Runs the manifest's verify command on the merged tree."""

    def verify(self, session: SessionRecord, commit: str, config: JobConfig,
               row: ChildRecord) -> ChildResult | None:
        """Return the result now, or None when it will arrive later as `row`'s result."""

    def resend(self, session: SessionRecord, commit: str, config: JobConfig,
               row: ChildRecord) -> None:
        """Make sure the verify job of a dispatched `row` was sent (a crash may have come
        between recording the row and sending it); never send it twice."""


class Reporter(Protocol):
    """Tells people what happened (the tracking comment, a progress display)."""

    def session_changed(self, session_id: str) -> None:
        """Called after every step that changed the session or a child."""


class Clock(Protocol):
    """Where the time comes from (tests move it)."""

    def now(self) -> datetime: ...


ManifestParser = Callable[[str, str], Manifest]
"""Parse a manifest's text (named by its path for messages); raise ManifestError."""

ResultSink = Callable[[str, ChildResult], object]
"""Where an executor hands a finished child's result (child id, result)."""


class NullReporter:
    """A reporter that tells nobody."""

    def session_changed(self, session_id: str) -> None:
        """Do nothing."""


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        """Return the current time in UTC."""
        return datetime.now(UTC)
