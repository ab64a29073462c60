"""The narrow ports the orchestrator needs from the outside world, one Protocol each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from service.adapters.db.models import ChildRow, SessionRow
from service.adapters.git_repo import MergeOutcome
from service.domain.wire import ChildResult, JobConfig


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


class Host(Protocol):
    """Where the session's branches live and how a finished session is published."""

    def base_head(self, ref: str) -> str:
        """Return the commit the base ref names now, fetching it first where needed."""

    def prepare_children(self, session: SessionRow, children: list[ChildRow]) -> None:
        """Make the children's commits readable through Git (fetch them, in service mode)."""

    def set_session_branch(self, session: SessionRow, sha: str) -> None:
        """Create the session branch at `sha`, or move it there (it has no own commits yet)."""

    def publish(self, session: SessionRow, sha: str) -> None:
        """Fast-forward the session branch to `sha` and push it where configured."""

    def open_pull_request(self, session: SessionRow, title: str, body: str,
                          draft: bool) -> str | None:
        """Open (or find) the session's pull request and return its URL."""


class Executor(Protocol):
    """Runs child jobs somewhere and makes their results come back through record_result."""

    def dispatch(self, session: SessionRow, children: list[ChildRow], config: JobConfig) -> None:
        """Start the given pending children; must not start one twice."""

    def cancel(self, session: SessionRow, children: list[ChildRow]) -> None:
        """Stop the given children if they are still running."""

    # Optional: `resume(session, config)` finishes sends a crash left half-done.


class Verifier(Protocol):
    """Runs the manifest's verify command on the merged tree."""

    def verify(self, session: SessionRow, commit: str, config: JobConfig,
               row: ChildRow) -> ChildResult | None:
        """Return the result now, or None when it will arrive later as `row`'s result."""


class Reporter(Protocol):
    """Tells people what happened (the tracking comment, a progress display)."""

    def session_changed(self, session_id: str) -> None:
        """Called after every step that changed the session or a child."""


ResultSink = Callable[[str, ChildResult], object]


class NullReporter:
    """A reporter that tells nobody."""

    def session_changed(self, session_id: str) -> None:
        """Do nothing."""
