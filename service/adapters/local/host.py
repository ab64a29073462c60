"""The local host: branches live in the user's repository; publishing may push to origin."""

from __future__ import annotations

from service.adapters.git_repo import GitError, GitRepository
from service.domain.bundles import BadBundle
from service.orchestrator.errors import BadInput
from service.orchestrator.ports import SessionRecord


class LocalHost:
    """Writes only ccs's own branches in the user's repository; never touches HEAD."""

    def __init__(self, repo: GitRepository, remote: str = "origin") -> None:
        self.repo = repo
        self.remote = remote

    def default_base(self) -> str:
        """Return the checkout's current branch; refuse a detached HEAD or an empty repo."""
        try:
            self.repo.resolve("HEAD")
        except GitError:
            raise BadInput("the repository has no commits yet; commit the manifest first",
                           code="empty_repository") from None
        current = self.repo.current_branch()
        if not current:
            raise BadInput("HEAD is detached and no base is set; pass --base BRANCH or set "
                           "`base:` in the manifest", code="detached")
        return current

    def check_base(self, ref: str) -> None:
        """Refuse the checked-out branch while it has uncommitted changes (they'd be left out)."""
        if ref == self.repo.current_branch() and self.repo.has_uncommitted_changes():
            raise BadInput(f"the checkout of {ref} has uncommitted changes; ccs builds from "
                           "committed history, so commit or stash them first (or pass --base)",
                           code="dirty")

    def base_head(self, ref: str) -> str:
        """Return the commit the base ref names now."""
        return self.repo.resolve(ref)

    def prepare_children(self, session: SessionRecord, children: list) -> None:
        """Nothing to fetch: the children committed into this repository."""

    def receive_bundle(self, session: SessionRecord, child: object, bundle: bytes) -> None:
        """Local children commit into this repository; a bundle is never theirs."""
        raise BadBundle("local children hand over their commits in this repository, never as "
                       "a bundle")

    def set_session_branch(self, session: SessionRecord, sha: str) -> None:
        """Create the session branch at `sha`, or move it there."""
        current = self.repo.branch_sha(session.branch)
        if current != sha:
            self.repo.set_branch(session.branch, sha, expected_old=current)

    def start_wave(self, session: SessionRecord, wave: int, sha: str) -> None:
        """Nothing to do: a child's clone borrows this repository's objects, commits and all."""

    def publish(self, session: SessionRecord, sha: str) -> None:
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

    def open_pull_request(self, session: SessionRecord, title: str, body: str,
                          draft: bool) -> str | None:
        """Local mode opens no pull request."""
        return None
