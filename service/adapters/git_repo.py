"""Git operations the orchestrator needs, on a working repository or a bare mirror.

git runs as a plain subprocess here, not through GitPython: its `execute` copied the
environment and scrubbed passwords from every argv, ~5 ms of CPU per call in the local
executor's threads (~190 calls at N = 20, bench/local_run.py), and importing it cost
~90 ms of every `ccs run` start. Nothing here used more of it than `execute`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from service.domain.names import is_own_ref
from service.orchestrator.ports import GitError, MergeOutcome

__all__ = ["GitError", "GitRepository", "MergeOutcome", "NotARepository", "require_git"]

ZERO_SHA = "0" * 40
SYMLINK_MODE = "120000"
# Every git ccs runs: no hooks and no fsmonitor command, whatever a repository's config says,
# so nothing a coder planted in a .git it could reach ever runs as ccs (DESIGN §8).
SAFE_CONFIG = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")
# git's messages in English, whatever the user's locale: errors are matched and shown.
C_LOCALE = {"LANGUAGE": "C", "LC_ALL": "C"}


class NotARepository(GitError):
    """The path is not a git repository."""


def _path_and_parents(path: str) -> list[str]:
    """Return `a`, `a/b`, `a/b/c` for `a/b/c`: a link at any of them redirects the file."""
    parts = [part for part in path.split("/") if part]
    return ["/".join(parts[: end]) for end in range(1, len(parts) + 1)]


def require_git() -> str:
    """Return the git executable, or raise GitError saying how to get it."""
    found = shutil.which(os.environ.get("GIT_PYTHON_GIT_EXECUTABLE", "git"))
    if not found:
        raise GitError("git is not installed or not on PATH; install git 2.38 or newer")
    return found


class GitRepository:
    """A repository on disk, driven through git's own commands (no shell)."""

    def __init__(self, path: Path | str, *, redact: tuple[str, ...] = ()) -> None:
        self._git = require_git()
        self._redact = tuple(r for r in redact if r)
        self._identity: list[str] | None = None
        self.git_dir, bare = self._locate(Path(path))
        given = Path(path).absolute()
        self.path = self.git_dir if bare else (
            self.git_dir.parent if given.resolve() == self.git_dir.resolve() else given)

    def _locate(self, path: Path) -> tuple[Path, bool]:
        """Return the git dir of the repository at `path` (not of one above it) and whether
        it is bare; raise NotARepository."""
        absolute = path.absolute()
        # The ceiling keeps git from finding a repository in a folder above `path`.
        ceiling = {"GIT_CEILING_DIRECTORIES": str(absolute.parent)}
        try:
            status, out, _ = self._execute(
                ["rev-parse", "--absolute-git-dir", "--is-bare-repository"], absolute, ceiling)
        except (NotADirectoryError, FileNotFoundError):
            status, out = 128, ""
        lines = out.split()
        if status != 0 or len(lines) != 2:
            raise NotARepository(f"{path} is not a git repository (run `git init` first, or "
                                 "pass --repo pointing at one)")
        return Path(lines[0]), lines[1] == "true"

    # Low-level ---------------------------------------------------------------------

    def run(self, *args: str, ok: tuple[int, ...] = (0,),
            env: dict | None = None) -> tuple[int, str, str]:
        """Run `git args…` and return (status, stdout, stderr); raise GitError otherwise."""
        status, out, err = self._execute(list(args), self.path, env)
        if status not in ok:
            command = " ".join(args[:3])
            raise GitError(self._clean(f"git {command} failed ({status}): {err.strip()}"))
        return status, out, err

    def _execute(self, args: list[str], cwd: Path, env: dict | None,
                 stdin: str | None = None) -> tuple[int, str, str]:
        feed = None if stdin is None else stdin.encode("utf-8", "surrogateescape")
        done = subprocess.run([self._git, *SAFE_CONFIG, *args], cwd=cwd,
                              env={**os.environ, **C_LOCALE, **(env or {})}, input=feed,
                              stdin=subprocess.DEVNULL if feed is None else None,
                              capture_output=True, check=False)
        # Paths and file contents need not be UTF-8: keep their bytes round-trippable.
        return (done.returncode, done.stdout.decode("utf-8", "surrogateescape"),
                done.stderr.decode("utf-8", "surrogateescape"))

    def _clean(self, text: str) -> str:
        for secret in self._redact:
            text = text.replace(secret, "***")
        return text

    def identity_args(self) -> list[str]:
        """Return -c options giving ccs an identity when the repository has none."""
        if self._identity is None:
            status, out, _ = self.run("config", "user.email", ok=(0, 1))
            has_env = os.environ.get("GIT_COMMITTER_EMAIL") and os.environ.get("GIT_AUTHOR_EMAIL")
            self._identity = [] if (status == 0 and out.strip()) or has_env else [
                "-c", "user.name=ccs", "-c", "user.email=ccs@localhost"]
        return self._identity

    # Reads --------------------------------------------------------------------------

    def resolve(self, ref: str) -> str:
        """Return the commit sha `ref` names, or raise GitError."""
        if ref.startswith("-"):
            raise GitError(f"{ref!r} is not a valid ref")
        status, out, _ = self.run("rev-parse", "--verify", "--quiet", "--end-of-options",
                                  f"{ref}^{{commit}}", ok=(0, 1))
        if status != 0:
            raise GitError(f"no commit named {ref!r} in {self.path}")
        return out.strip()

    def branch_sha(self, branch: str) -> str | None:
        """Return the sha of a local branch, or None when it does not exist."""
        status, out, _ = self.run("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}",
                                  ok=(0, 1))
        return out.strip() if status == 0 else None

    def current_branch(self) -> str | None:
        """Return the checked-out branch name, or None on a detached HEAD."""
        status, out, _ = self.run("symbolic-ref", "--quiet", "--short", "HEAD", ok=(0, 1))
        return out.strip() if status == 0 else None

    def has_uncommitted_changes(self) -> bool:
        """Return True when tracked files differ from HEAD (untracked files do not count)."""
        _, out, _ = self.run("status", "--porcelain", "--untracked-files=no")
        return bool(out.strip())

    def read_file(self, commit: str, path: str) -> str | None:
        """Return a file's text at `commit`, or None when it does not exist there."""
        status, out, _ = self.run("cat-file", "-p", f"{commit}:{path}", ok=(0, 128))
        return out if status == 0 else None

    def blob_sizes(self, commit: str, paths: list[str]) -> dict[str, int | None]:
        """Return each path's size at `commit` (None when missing), in one git call."""
        if not paths:
            return {}
        request = "".join(f"{commit}:{p}\n" for p in paths)
        # One batch process answers for every path.
        _, out, _ = self._execute(["cat-file", "--batch-check=%(objecttype) %(objectsize)"],
                                  self.git_dir, None, stdin=request)
        sizes: dict[str, int | None] = {}
        for path, line in zip(paths, out.splitlines(), strict=False):
            kind, _, size = line.partition(" ")
            sizes[path] = int(size) if kind == "blob" and size.isdigit() else None
        for path in paths:
            sizes.setdefault(path, None)
        return sizes

    def symlinks(self, commit: str, paths: list[str]) -> list[str]:
        """Return which of `paths`, or of the folders above them, are symlinks at `commit`."""
        wanted = {prefix for path in paths for prefix in _path_and_parents(path)}
        if not wanted:
            return []
        _, out, _ = self.run("--literal-pathspecs", "ls-tree", "-z", "--full-tree", commit,
                             "--", *sorted(wanted))
        found = []
        for record in out.split("\0"):
            info, _, path = record.partition("\t")
            if info.startswith(SYMLINK_MODE + " ") and path in wanted:
                found.append(path)
        return sorted(found)

    def changed_files(self, base: str, commit: str) -> list[str]:
        """Return the paths that differ between two commits (renames as delete + add)."""
        _, out, _ = self.run("diff", "--name-only", "--no-renames", "-z", base, commit)
        return [p for p in out.split("\0") if p]

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Return True when `ancestor` is reachable from `descendant`."""
        status, _, _ = self.run("merge-base", "--is-ancestor", ancestor, descendant, ok=(0, 1, 128))
        return status == 0

    def commit_exists(self, sha: str) -> bool:
        """Return True when the object database holds the commit."""
        status, _, _ = self.run("cat-file", "-e", f"{sha}^{{commit}}", ok=(0, 1, 128))
        return status == 0

    # Writes -------------------------------------------------------------------------

    def set_branch(self, branch: str, sha: str, expected_old: str | None) -> None:
        """Point one of ccs's own branches at `sha`, only if it is still at `expected_old`.

        `expected_old=None` means the branch must not exist yet.
        """
        if not is_own_ref(branch):
            raise GitError(f"refusing to write {branch!r}: ccs writes only ccs/ and ccs- branches")
        self.run("update-ref", "-m", "ccs", f"refs/heads/{branch}", sha,
                 expected_old or ZERO_SHA)

    def delete_branch(self, branch: str) -> None:
        """Delete one of ccs's own branches if it exists."""
        if not is_own_ref(branch):
            raise GitError(f"refusing to delete {branch!r}")
        self.run("update-ref", "-d", f"refs/heads/{branch}", ok=(0, 1))

    def merge_tree(self, ours: str, theirs: str) -> MergeOutcome:
        """Merge two commits without a checkout; return the tree or the conflicted files."""
        status, out, _ = self.run("merge-tree", "--write-tree", "--name-only", "--no-messages",
                                  "-z", ours, theirs, ok=(0, 1))
        parts = [p for p in out.split("\0") if p]
        if status == 0:
            return MergeOutcome(tree=parts[0].strip())
        return MergeOutcome(tree=None, conflicts=tuple(sorted(set(parts[1:]))))

    def commit_tree(self, tree: str, parents: list[str], message: str) -> str:
        """Create a commit object for `tree` and return its sha."""
        args = [*self.identity_args(), "commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        _, out, _ = self.run(*args, "-m", message)
        return out.strip()

    def push(self, remote: str, refspecs: list[str], env: dict | None = None) -> None:
        """Push refspecs to a remote (no force: a non-fast-forward push fails)."""
        for spec in refspecs:
            target = spec.split(":")[-1].removeprefix("+").removeprefix("refs/heads/")
            if not is_own_ref(target):
                raise GitError(f"refusing to push {target!r}: not a ccs branch")
        self.run("push", "--porcelain", remote, *refspecs, env=env)

    def fetch(self, remote: str, refspecs: list[str], env: dict | None = None) -> None:
        """Fetch refspecs from a remote."""
        if refspecs:
            self.run("fetch", "--quiet", "--no-tags", remote, *refspecs, env=env)

    def add_checkout(self, path: Path, sha: str) -> None:
        """Clone this repository into `path` with a .git of its own and check `sha` out there.

        The clone borrows this repository's objects (`--shared`) but has its own config,
        hooks and refs: whatever a child plants in it stays there (DESIGN §8).
        """
        self.run("clone", "--quiet", "--shared", "--no-checkout", "--template=",
                 "--", str(self.git_dir), str(path))
        self.run("-C", str(path), "checkout", "--quiet", "--detach", sha)

    def fetch_child(self, checkout: Path, sha: str, branch: str) -> None:
        """Copy commit `sha` from a child's checkout onto one of ccs's own branches here."""
        if not is_own_ref(branch):
            raise GitError(f"refusing to write {branch!r}: ccs writes only ccs/ and ccs- branches")
        if len(sha) != 40 or any(ch not in "0123456789abcdef" for ch in sha):
            raise GitError(f"the child reported {sha!r}, which is not a commit sha")
        # SAFE_CONFIG travels to the upload-pack run in the child's repository through
        # GIT_CONFIG_PARAMETERS, so its own config cannot switch hooks back on either.
        self.run("fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
                 "--no-auto-maintenance", "--", str(checkout), f"+{sha}:refs/heads/{branch}")

    @staticmethod
    def remove_checkout(path: Path) -> None:
        """Delete a child's checkout, even if the child left it dirty."""
        shutil.rmtree(path, ignore_errors=True)
