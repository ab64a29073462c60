"""A bare mirror per GitHub repository: fetch and push with the token only in git's env."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import git as gitpython

from service.adapters.file_lock import file_lock
from service.adapters.git_repo import GitError, GitRepository
from service.domain.names import is_own_ref


class Mirror:
    """`<workspace>/mirrors/<owner>/<name>.git`; one fetch or push at a time (file lock)."""

    def __init__(self, workspace_dir: Path, repository: str, remote_url: Callable[[], str],
                 token: Callable[[], str | None]) -> None:
        owner, name = repository.split("/", 1)
        self.path = Path(workspace_dir) / "mirrors" / owner / f"{name}.git"
        self._remote_url = remote_url
        self._token = token
        self._repo: GitRepository | None = None

    @property
    def repo(self) -> GitRepository:
        """Return the mirror as a GitRepository (created on first use)."""
        if self._repo is None:
            with self._locked():
                if not (self.path / "HEAD").exists():
                    self.path.mkdir(parents=True, exist_ok=True)
                    gitpython.Repo.init(self.path, bare=True)
            self._repo = GitRepository(self.path)
        return self._repo

    def _locked(self) -> AbstractContextManager[None]:
        return file_lock(self.path.with_name(self.path.name + ".lock"))

    def _auth(self, url: str) -> tuple[dict[str, str], tuple[str, ...]]:
        """Return git's environment for `url` and the strings to redact from errors."""
        env = {"GIT_TERMINAL_PROMPT": "0"}
        token = self._token() if url.startswith(("https://", "http://")) else None
        if not token:
            return env, ()
        from service.adapters.github.client import basic_auth_header

        header = basic_auth_header(token)
        # Through the environment only: argv is visible to every user of the host (ps).
        env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraheader",
                   GIT_CONFIG_VALUE_0=header)
        return env, (token, header.split()[-1])

    def _git(self, *args: str) -> str:
        """Run git with "{url}" replaced by the remote; redact credentials from errors."""
        url = self._remote_url()
        env, secrets = self._auth(url)
        argv = [url if arg == "{url}" else arg for arg in args]
        try:
            return self.repo.run(*argv, env=env)[1]
        except GitError as error:
            text = str(error)
            for secret in secrets:
                text = text.replace(secret, "***")
            raise GitError(text) from None

    def fetch(self, refspecs: list[str]) -> None:
        """Fetch refspecs from GitHub into the mirror (serialised with other fetches)."""
        if refspecs:
            self.repo  # noqa: B018 - create the mirror before taking the lock
            with self._locked():
                self._git("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "{url}",
                          *refspecs)

    def fetch_branch(self, branch: str) -> str:
        """Fetch one branch into refs/heads/<branch> and return its head."""
        self.fetch([f"+refs/heads/{branch}:refs/heads/{branch}"])
        return self.repo.resolve(f"refs/heads/{branch}")

    def remote_head(self, branch: str) -> str | None:
        """Return the sha of `branch` on GitHub, or None when it does not exist."""
        out = self._git("ls-remote", "--heads", "{url}", f"refs/heads/{branch}")
        return out.split()[0] if out.strip() else None

    def push(self, sha: str, branch: str, lease: str | bool | None = False) -> None:
        """Push `sha` to one of ccs's branches; fast-forward only unless a lease is given.

        `lease=False`: plain push (git refuses a non-fast-forward). `lease=<sha>` or None:
        force, but only if the branch is still at that sha (None: does not exist yet).
        """
        if not is_own_ref(branch):
            raise GitError(f"refusing to push {branch!r}: ccs writes only ccs/ and ccs- branches")
        ref = f"refs/heads/{branch}"
        args = ["push", "--porcelain", "--no-verify"]
        if lease is not False:
            args.append(f"--force-with-lease={ref}:{lease or ''}")
            target = f"+{sha}:{ref}"
        else:
            target = f"{sha}:{ref}"
        self.repo  # noqa: B018
        with self._locked():
            self._git(*args, "{url}", target)

    def take_bundle(self, bundle: bytes, name: str, ref: str) -> str:
        """Fetch the bundle's ref `name` into `ref` of the mirror (git checks its objects and
        that its prerequisites are here); return the commit `ref` now names."""
        self.repo  # noqa: B018
        with self._locked(), tempfile.NamedTemporaryFile(
                dir=self.path.parent, prefix=".incoming-", suffix=".bundle") as file:
            file.write(bundle)
            file.flush()
            self.repo.run("bundle", "verify", "--quiet", file.name)
            # The leading "+" keeps even an odd name from reading as an option.
            self.repo.run("fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
                          file.name, f"+{name}:{ref}")
        return self.repo.resolve(ref)
