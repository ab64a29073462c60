"""The GitHub host and verifier: branches through the API and a bare mirror."""

from __future__ import annotations

from service.adapters.db.models import ChildRow, SessionRow
from service.adapters.git_repo import GitError
from service.adapters.github.client import GitHubError
from service.adapters.github.executor import GitHubExecutor
from service.adapters.github.mirror import Mirror
from service.adapters.github.repo import RepoGitHub
from service.domain.bundles import BadBundle, header_problem, read_header
from service.domain.names import CHILD_BRANCH_PREFIX, is_own_ref, staging_branch, wave_branch
from service.domain.states import ChildStatus
from service.domain.wire import JobConfig


class GitHubHost:
    """Session branches live on GitHub; the mirror holds the objects the orchestrator reads."""

    def __init__(self, repo: RepoGitHub, mirror: Mirror) -> None:
        self.repo = repo
        self.mirror = mirror

    def default_base(self) -> str:
        """Return the repository's default branch."""
        return self.repo.default_branch()

    def check_base(self, ref: str) -> None:
        """Any branch or tag on GitHub holds only committed work: nothing to refuse."""

    def base_head(self, ref: str) -> str:
        """Fetch the base branch (or tag) into the mirror and return its head."""
        for kind in ("heads", "tags"):
            try:
                self.mirror.fetch([f"+refs/{kind}/{ref}:refs/{kind}/{ref}"])
                return self.mirror.repo.resolve(f"refs/{kind}/{ref}")
            except GitError:
                continue
        raise GitError(f"no branch or tag {ref!r} in {self.repo.repository}")

    def prepare_children(self, session: SessionRow, children: list[ChildRow]) -> None:
        """Fetch every child branch of the session in one fetch (a glob refspec)."""
        if children:
            prefix = f"refs/heads/{CHILD_BRANCH_PREFIX}{session.id}/"
            self.mirror.fetch([f"+{prefix}*:{prefix}*"])

    def receive_bundle(self, session: SessionRow, child: ChildRow, bundle: bytes) -> None:
        """Take a child's bundle into the mirror and push its child branch with ccs's token.

        Raise BadBundle when the bundle is refused, GitError when git or GitHub failed.
        """
        commit, start = child.commit or "", child.start_sha or session.base_sha or ""
        header = read_header(bundle)
        problem = header_problem(header, commit, start)
        if problem:
            raise BadBundle(problem)
        if not self.mirror.repo.commit_exists(start):
            self.mirror.fetch_branch(session.branch)
        incoming = f"refs/ccs-incoming/{child.id}"
        try:
            tip = self.mirror.take_bundle(bundle, header.refs[0][1], incoming)
        except GitError as error:
            raise BadBundle(f"git could not read it ({error})") from None
        self.mirror.repo.run("update-ref", "-d", incoming)
        if tip != commit or not self.mirror.repo.is_ancestor(start, tip):
            raise BadBundle(f"its history does not start at the session head {start[:12]}")
        current = self.mirror.remote_head(child.branch)
        if current != tip:
            # ccs's own child branch: forced over a stale one, with a lease on what was there.
            self.mirror.push(tip, child.branch, lease=current)

    def set_session_branch(self, session: SessionRow, sha: str) -> None:
        """Create the session branch at `sha` through the API, or move it there."""
        ref = f"refs/heads/{session.branch}"
        try:
            self.repo.client.write("POST", self.repo.path("git", "refs"), {"ref": ref, "sha": sha})
            return
        except GitHubError as error:
            if error.status != 422 or "already exists" not in str(error):
                raise
        if not is_own_ref(session.branch):
            raise GitError(f"refusing to move {session.branch!r}: not a ccs branch")
        current = self.repo.client.get(self.repo.path("git", "ref", f"heads/{session.branch}"))
        if current["object"]["sha"] != sha:
            # Force is safe only here: the session branch has no commits of its own until
            # Finalize, and a retry moves it to the base's new head.
            path = self.repo.path("git", "refs", f"heads/{session.branch}")
            self.repo.client.write("PATCH", path, {"sha": sha, "force": True})

    def start_wave(self, session: SessionRow, wave: int, sha: str) -> None:
        """Push the commit a later wave starts from to its wave branch (ccs's own: forced,
        with a lease on what was there a moment ago)."""
        branch = wave_branch(session.id, wave)
        current = self.mirror.remote_head(branch)
        if current != sha:
            self.mirror.push(sha, branch, lease=current)

    def publish(self, session: SessionRow, sha: str) -> None:
        """Push `sha` from the mirror to the session branch, fast-forward only."""
        if not self.mirror.repo.commit_exists(sha):
            # Another worker merged (and verified) it; the staging branch carries it.
            self.mirror.fetch_branch(staging_branch(session.id))
        self.mirror.push(sha, session.branch)

    def open_pull_request(self, session: SessionRow, title: str, body: str,
                          draft: bool) -> str | None:
        """Return the session's pull request, opening it (draft per manifest) if there is none."""
        found = self._find_pull(session)
        if found:
            return found
        try:
            created = self.repo.client.write("POST", self.repo.path("pulls"), {
                "title": title, "head": session.branch, "base": session.base_ref, "body": body,
                "draft": draft})
        except GitHubError as error:
            if error.status == 422 and "already exists" in str(error):
                return self._find_pull(session)
            raise
        return str(created["html_url"])

    def _find_pull(self, session: SessionRow) -> str | None:
        owner = self.repo.repository.split("/", 1)[0]
        pulls = self.repo.client.get(self.repo.path("pulls"), head=f"{owner}:{session.branch}",
                                     state="all", per_page=1)
        return str(pulls[0]["html_url"]) if pulls else None


class GitHubVerifier:
    """Runs verify as an Actions job on a staging branch: the service never runs repo code."""

    def __init__(self, executor: GitHubExecutor, mirror: Mirror) -> None:
        self.executor = executor
        self.mirror = mirror

    def verify(self, session: SessionRow, commit: str, config: JobConfig,
               row: ChildRow) -> None:
        """Push the merged commit to the staging branch and dispatch the verify job."""
        staging = staging_branch(session.id)
        current = self.mirror.remote_head(staging)
        if current != commit:
            # ccs's own branch: force it, but with a lease on what was there a moment ago.
            self.mirror.push(commit, staging, lease=current)
        self.executor.dispatch_verify(session, row, config, staging)
        if self.executor.store.child(row.id).status == ChildStatus.FAILED:
            raise GitHubError(self.executor.store.child(row.id).message)
        return None

    def resend(self, session: SessionRow, commit: str, config: JobConfig,
               row: ChildRow) -> None:
        """Push and dispatch again what a crash left unsent; both steps look first."""
        self.verify(session, commit, config, row)
