"""`ccs status`: read the local session log without loading the orchestrator.

A status only reads, so it asks git where the repository's database is and reads it with
stdlib sqlite3 (`service.adapters.db.local_read`): no SQLAlchemy, Alembic, GitPython or
rich at start-up. Whatever that road cannot answer exactly as the full one would (another
database URL, no database yet, an older schema, an unknown session, not a repository)
goes the full road (`service.cli.local.status`), which migrates and words the errors.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

from service.adapters.db import local_read
from service.cli import EXIT_OK
from service.cli.show import describe, describe_list, print_body, session_body, session_list

# The same safety flags as every git ccs runs (service.adapters.git_repo.SAFE_CONFIG).
_GIT = ("git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")


def status(args: argparse.Namespace) -> int:
    """`ccs status [SESSION_ID]`: show one session, or this repository's sessions."""
    # A watch follows the event stream for minutes: the start-up it would save is nothing.
    located = None if getattr(args, "watch", False) else _locate(Path(args.repo))
    if located is not None:
        database, repository = located
        try:
            if args.session_id:
                session, children = local_read.session_with_children(
                    database, args.session_id, repository)
                body = session_body(session, children)
                print_body(args, body, human=describe(body))
            else:
                body = session_list(local_read.sessions(database, repository))
                print_body(args, body, human=describe_list(body))
            return EXIT_OK
        except local_read.Unavailable:
            pass
    from service.cli.local import status as full_status

    return full_status(args)


def _locate(repo: Path) -> tuple[Path, str] | None:
    """Return (database file, repository key) as `service.bootstrap.local` finds them, or
    None when the lean road should not guess."""
    if os.environ.get("CCS_DATABASE_URL") or not repo.is_dir():
        return None
    try:
        found = subprocess.run([*_GIT, "rev-parse", "--show-toplevel", "--git-common-dir"],
                               cwd=repo, capture_output=True, text=True, check=False,
                               stdin=subprocess.DEVNULL)
    except OSError:
        return None
    lines = found.stdout.splitlines()
    if found.returncode != 0 or len(lines) != 2:
        return None
    top = Path(lines[0]).resolve()
    # GitPython (the full road) opens only a repository's top folder, not a folder inside.
    if top != repo.resolve():
        return None
    common = Path(lines[1])
    if not common.is_absolute():
        common = repo / common
    return (common / "ccs").resolve() / "ccs.db", f"local:{top}"
