"""The few git operations the runner needs, run as argv lists in one checkout."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

FALLBACK_IDENTITY = ("ccs", "ccs@localhost")
# What git says (in English: the commit runs with LC_ALL=C) when it has no identity.
_NO_IDENTITY = "tell me who you are"
GIT_TIMEOUT = 600
# The checkout's .git is the coder's to write: never let it choose commands for our git.
SAFE_CONFIG = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")


class GitError(RuntimeError):
    """A git command that failed; the message holds git's own complaint."""


def git(cwd: Path | str, *args: str, env: Mapping[str, str] | None = None,
        timeout: float = GIT_TIMEOUT, jail: Sequence[str] = ()) -> str:
    """Run git in `cwd` (inside `jail`, a sandbox's argv) and return its stdout, or raise
    GitError with its stderr."""
    status, out, err = _run(cwd, args, env, timeout, jail)
    if status != 0:
        raise GitError(f"git {args[0]} failed: {err.strip()[-2000:]}")
    return out


def _run(cwd: Path | str, args: Sequence[str], env: Mapping[str, str] | None = None,
         timeout: float = GIT_TIMEOUT, jail: Sequence[str] = ()) -> tuple[int, str, str]:
    """Run git in `cwd`; return its exit status, stdout and stderr."""
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    try:
        done = subprocess.run(
            [*jail, "git", *SAFE_CONFIG, *args], cwd=cwd, env=full_env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} timed out after {timeout:g} s") from None
    return done.returncode, done.stdout, done.stderr


def head(cwd: Path | str, jail: Sequence[str] = ()) -> str:
    """Return the sha HEAD points at."""
    return git(cwd, "rev-parse", "HEAD", jail=jail).strip()


def reset_branch(cwd: Path | str, branch: str, jail: Sequence[str] = ()) -> None:
    """Create or reset `branch` at HEAD and check it out."""
    git(cwd, "checkout", "-q", "-B", branch, jail=jail)


def commit_all(cwd: Path | str, message: str, leave_out: Sequence[str] = (),
               jail: Sequence[str] = ()) -> bool:
    """Stage every change (deletions too) and commit it; return False when nothing changed.

    Paths matching a `leave_out` pattern (an agent's own scratch files) stay untracked.
    """
    git(cwd, "add", "-A", "--", ".", *(f":(exclude){pattern}" for pattern in leave_out),
        jail=jail)
    # Commit first and ask why only when that fails: two git processes for a commit that
    # just works, where asking first (anything staged? any identity?) cost three more.
    status, _, err = _commit(cwd, message, jail)
    if status == 0:
        return True
    if not _anything_staged(cwd, jail):
        return False
    if _NO_IDENTITY in err:
        name, email = FALLBACK_IDENTITY
        status, _, err = _commit(cwd, message, jail, "-c", f"user.name={name}",
                                 "-c", f"user.email={email}")
        if status == 0:
            return True
    raise GitError(f"git commit failed: {err.strip()[-2000:]}")


def _commit(cwd: Path | str, message: str, jail: Sequence[str],
            *identity: str) -> tuple[int, str, str]:
    # Hooks and signing belong to the user's own commits; a job commit must not stop on
    # them. The checkout is thrown away: no background maintenance for it.
    return _run(cwd, [*identity, "-c", "commit.gpgsign=false", "-c", "maintenance.auto=false",
                      "-c", "gc.auto=0", "commit", "-q", "--no-verify", "-m", message],
                {"LC_ALL": "C", "LANGUAGE": "C"}, jail=jail)


def _anything_staged(cwd: Path | str, jail: Sequence[str]) -> bool:
    status, _, err = _run(cwd, ["diff", "--cached", "--quiet"], jail=jail)
    if status not in (0, 1):
        raise GitError(f"git diff failed: {err.strip()[-2000:]}")
    return status == 1


def changed_files(cwd: Path | str, start: str, jail: Sequence[str] = ()) -> list[str]:
    """Return the paths changed between `start` and HEAD (renames as delete + add)."""
    out = git(cwd, "diff", "--name-only", "--no-renames", "-z", f"{start}..HEAD", jail=jail)
    return sorted(path for path in out.split("\0") if path)


def auth_env(token: str | None) -> dict[str, str]:
    """Return env that makes git send `token` as HTTP basic auth, keeping it off argv."""
    if not token:
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    # GIT_CONFIG_* (git >= 2.31) keeps the header out of `ps` and of logged command lines.
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraheader",
        "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
    }


def bundle(cwd: Path | str, branch: str, start: str, path: Path) -> bytes:
    """Write a bundle of `branch` holding what it has beyond `start` to `path`; return it."""
    git(cwd, "bundle", "create", "-q", str(path), f"refs/heads/{branch}", f"^{start}")
    return path.read_bytes()
