"""The local host: branches live in the user's repository; publishing may push to origin."""

from __future__ import annotations

from service.adapters.db.models import SessionRow
from service.adapters.git_repo import GitError, GitRepository


class LocalHost:
    """Writes only ccs's own branches in the user's repository; never touches HEAD."""

    def __init__(self, repo: GitRepository, remote: str = "origin") -> None:
        self.repo = repo
        self.remote = remote

    def base_head(self, ref: str) -> str:
        """Return the commit the base ref names now."""
        return self.repo.resolve(ref)

    def prepare_children(self, session: SessionRow, children: list) -> None:
        """Nothing to fetch: the children committed into this repository."""

    def set_session_branch(self, session: SessionRow, sha: str) -> None:
        """Create the session branch at `sha`, or move it there."""
        current = self.repo.branch_sha(session.branch)
        if current != sha:
            self.repo.set_branch(session.branch, sha, expected_old=current)

    def publish(self, session: SessionRow, sha: str) -> None:
        """Fast-forward the session branch to `sha`; push it when the session asked to."""
        current = self.repo.branch_sha(session.branch)
        if current != sha:
            if current and not self.repo.is_ancestor(current, sha):
                raise GitError(f"{session.branch} moved to {current[:12]} outside ccs; "
                               "refusing to overwrite it")
            self.repo.set_branch(session.branch, sha, expected_old=current)
        if session.push:
            ref = f"refs/heads/{session.branch}"
            self.repo.push(self.remote, [f"{ref}:{ref}"])

    def open_pull_request(self, session: SessionRow, title: str, body: str,
                          draft: bool) -> str | None:
        """Local mode opens no pull request."""
        return None
