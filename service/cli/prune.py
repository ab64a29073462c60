"""`ccs prune`: remove the branches, leftover checkouts and logs of rested sessions."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from service.adapters.db.models import SessionRow
from service.adapters.git_repo import GitError
from service.adapters.local.logs import LogFolder
from service.bootstrap import LocalRuntime
from service.cli import EXIT_BAD_INPUT, EXIT_OK
from service.cli.logs import open_local
from service.domain.names import is_own_ref
from service.domain.progress import prune_keeps_session_branch, prune_refusal

MAX_SESSIONS = 100_000


@dataclass
class Pruned:
    """What pruning one session removed."""

    session: str
    status: str
    branches: list[str] = field(default_factory=list)
    checkouts: list[str] = field(default_factory=list)
    logs: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the --json shape of one pruned session."""
        return {"session": self.session, "status": self.status, "branches": self.branches,
                "checkouts": self.checkouts, "logs": self.logs}

    def describe(self) -> str:
        """Return the line `ccs prune` prints for this session."""
        removed = [f"{len(self.branches)} branch(es) ({', '.join(self.branches)})"
                   if self.branches else "", f"logs {self.logs}" if self.logs else "",
                   f"{len(self.checkouts)} leftover checkout(s)" if self.checkouts else ""]
        what = "; ".join(part for part in removed if part) or "nothing left to remove"
        return f"session {self.session} ({self.status}): removed {what}"


def prune(args: argparse.Namespace) -> int:
    """Remove what rested sessions older than --older-than days leave behind."""
    runtime = open_local(args.repo)
    if runtime is None:
        return EXIT_BAD_INPUT
    try:
        cutoff = datetime.now(UTC) - timedelta(days=args.older_than)
        pruned, kept = prune_sessions(runtime, cutoff)
    except GitError as error:
        print(f"ccs: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        runtime.close()
    if args.json:
        print(json.dumps({"pruned": [p.to_json() for p in pruned], "kept": kept}, indent=2))
        return EXIT_OK
    for done in pruned:
        print(done.describe())
    for session in kept:
        print(f"session {session['session']}: kept ({session['reason']})")
    if not pruned:
        print("nothing to prune")
    return EXIT_OK


def prune_sessions(runtime: LocalRuntime, cutoff: datetime) -> tuple[list[Pruned],
                                                                     list[dict[str, str]]]:
    """Prune every rested session of the repository that rested before `cutoff`."""
    pruned: list[Pruned] = []
    kept: list[dict[str, str]] = []
    for session in runtime.store.sessions(runtime.repository_key, limit=MAX_SESSIONS):
        reason = prune_refusal(session.status)
        if reason is None and _aware(session.updated_at) > cutoff:
            reason = f"rested less than {_days(cutoff)} day(s) ago"
        if reason is not None:
            kept.append({"session": session.id, "status": session.status, "reason": reason})
            continue
        pruned.append(_prune_one(runtime, session))
    return pruned, kept


def _prune_one(runtime: LocalRuntime, session: SessionRow) -> Pruned:
    done = Pruned(session.id, session.status)
    branches = [child.branch for child in runtime.store.children(session.id, kind=None)]
    if not prune_keeps_session_branch(session.status):
        branches.append(session.branch)
    for branch in dict.fromkeys(branches):
        # Only ccs's own refs, and only those that exist: never anything of the user's.
        if is_own_ref(branch) and runtime.repo.branch_sha(branch) is not None:
            runtime.repo.delete_branch(branch)
            done.branches.append(branch)
    for leftover in sorted(Path(tempfile.gettempdir()).glob(f"ccs-{session.id}-*")):
        mine = leftover.lstat().st_uid == os.getuid()
        if mine and leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
            done.checkouts.append(str(leftover))
    folder = LogFolder(runtime.log_dir)
    if folder.remove(session.id):
        done.logs = str(folder.session_dir(session.id))
    return done


def _aware(moment: datetime) -> datetime:
    """Return `moment` with a time zone (SQLite hands naive UTC datetimes back)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _days(cutoff: datetime) -> int:
    return round((datetime.now(UTC) - cutoff) / timedelta(days=1))

