"""A local bare git repository standing in for one GitHub repository's git data."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_IDENTITY = {
    "GIT_AUTHOR_NAME": "Fake GitHub",
    "GIT_AUTHOR_EMAIL": "noreply@github.invalid",
    "GIT_COMMITTER_NAME": "Fake GitHub",
    "GIT_COMMITTER_EMAIL": "noreply@github.invalid",
}
ZERO_SHA = "0" * 40


class GitError(Exception):
    """A git command failed."""


@dataclass(frozen=True)
class CommitInfo:
    """What the API tells about one commit."""

    sha: str
    tree: str
    parents: tuple[str, ...]
    message: str
    author_name: str
    author_email: str
    date: str


class BareRepo:
    """Read and write refs, commits and files of a bare repository with `git` subprocesses."""

    def __init__(self, path: Path) -> None:
        """Wrap the bare repository at `path` (use `BareRepo.create` to make one)."""
        self.path = path

    @classmethod
    def create(cls, path: Path, files: dict[str, str | bytes], default_branch: str) -> BareRepo:
        """Make a bare repository whose `default_branch` holds one commit with `files`."""
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "init", "-q", "--bare", f"--initial-branch={default_branch}", str(path)],
            check=True, capture_output=True,
        )
        repo = cls(path)
        initial = files or {"README.md": "# repository\n"}
        repo.commit_files(default_branch, initial, "Initial commit")
        return repo

    def git(self, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> str:
        """Run git against the bare repository and return its stripped stdout."""
        full_env = {**os.environ, **_IDENTITY, **(env or {})}
        done = subprocess.run(
            ["git", "--git-dir", str(self.path), *args],
            input=stdin, capture_output=True, env=full_env, check=False,
        )
        if done.returncode != 0:
            raise GitError(done.stderr.decode(errors="replace").strip())
        return done.stdout.decode(errors="replace").strip()

    def ref_sha(self, ref: str) -> str | None:
        """Return the sha `ref` (e.g. `refs/heads/main`) points to, or None."""
        try:
            return self.git("rev-parse", "--verify", "-q", f"{ref}^{{commit}}")
        except GitError:
            return None

    def refs(self, prefix: str = "refs/") -> dict[str, str]:
        """Return every ref under `prefix` with its sha."""
        listing = self.git("for-each-ref", "--format=%(refname) %(objectname)", prefix)
        return dict(line.split(" ", 1) for line in listing.splitlines() if line)

    def has_commit(self, sha: str) -> bool:
        """Tell whether `sha` names a commit in this repository."""
        try:
            return self.git("cat-file", "-t", sha) == "commit"
        except GitError:
            return False

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Tell whether moving from `ancestor` to `descendant` is a fast-forward."""
        try:
            self.git("merge-base", "--is-ancestor", ancestor, descendant)
        except GitError:
            return False
        return True

    def set_ref(self, ref: str, sha: str, expected_old: str | None = None) -> None:
        """Point `ref` at `sha`; with `expected_old`, only if it still points there."""
        args = ["update-ref", ref, sha]
        if expected_old is not None:
            args.append(expected_old)
        self.git(*args)

    def delete_ref(self, ref: str) -> None:
        """Delete `ref`."""
        self.git("update-ref", "-d", ref)

    def read_file(self, ref: str, path: str) -> bytes | None:
        """Return the blob at `path` in `ref`, or None when it is missing or not a file."""
        try:
            if self.git("cat-file", "-t", f"{ref}:{path}") != "blob":
                return None
        except GitError:
            return None
        full_env = {**os.environ}
        return subprocess.run(
            ["git", "--git-dir", str(self.path), "cat-file", "blob", f"{ref}:{path}"],
            capture_output=True, check=True, env=full_env,
        ).stdout

    def blob_sha(self, ref: str, path: str) -> str:
        """Return the blob sha of `path` in `ref`."""
        return self.git("rev-parse", f"{ref}:{path}")

    def commit_info(self, sha: str) -> CommitInfo:
        """Return the tree, parents, message and author of a commit."""
        fields = self.git("show", "-s", "--format=%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%B", sha)
        full, tree, parents, name, email, date, message = fields.split("\x00", 6)
        return CommitInfo(full, tree, tuple(parents.split()), message, name, email, date)

    def commit_files(
        self, branch: str, files: dict[str, str | bytes], message: str,
        start: str | None = None,
    ) -> str:
        """Commit `files` on `branch` (new branches start at `start`); return the sha."""
        ref = f"refs/heads/{branch}"
        current = self.ref_sha(ref)
        parent = current or (self.ref_sha(start) if start else None)
        with tempfile.TemporaryDirectory() as scratch:
            env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            if parent:
                self.git("read-tree", parent, env=env)
            for path, content in files.items():
                data = content.encode() if isinstance(content, str) else content
                blob = self.git("hash-object", "-w", "--stdin", stdin=data)
                self.git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
            tree = self.git("write-tree", env=env)
        parents = ["-p", parent] if parent else []
        sha = self.git("commit-tree", tree, *parents, "-m", message)
        self.set_ref(ref, sha, current or ZERO_SHA)
        return sha

    def merge(self, base_sha: str, head_sha: str, message: str) -> str | None:
        """Create a merge commit of `head_sha` into `base_sha`; None on a conflict."""
        try:
            tree = self.git("merge-tree", "--write-tree", base_sha, head_sha).splitlines()[0]
        except GitError:
            return None
        return self.git("commit-tree", tree, "-p", base_sha, "-p", head_sha, "-m", message)
