"""`ccs logs SESSION_ID [COMPONENT] [--attempt N]`: what a child's coder and tests printed."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from service.adapters.db.models import SessionRow
from service.adapters.db.store import NotFound
from service.adapters.git_repo import GitError
from service.adapters.local.logs import LogFolder, render
from service.bootstrap import LocalRuntime, local
from service.cli import EXIT_BAD_INPUT, EXIT_OK
from service.domain.redaction import redact


class LogsError(ValueError):
    """What the user asked for has no logs; the message says what there is."""


def open_local(repo: str) -> LocalRuntime | None:
    """Return the repository's local runtime, or None after saying why there is none."""
    try:
        return local(Path(repo))
    except GitError as error:
        print(f"ccs: {error}", file=sys.stderr)
        return None


def logs(args: argparse.Namespace) -> int:
    """Print, per attempt, the prompt, the coder's output and the test output."""
    runtime = open_local(args.repo)
    if runtime is None:
        return EXIT_BAD_INPUT
    try:
        text = logs_text(runtime, args.session_id, args.component, args.attempt)
    except LogsError as error:
        print(f"ccs: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        runtime.close()
    # A coder may print a token it found; nothing leaves ccs unmasked (DESIGN §8).
    sys.stdout.write(redact(text))
    return EXIT_OK


def logs_text(runtime: LocalRuntime, session_id: str, component: str | None,
              attempt: int | None) -> str:
    """Return the logs asked for, or raise LogsError naming what there is instead."""
    session = _session(runtime, session_id)
    folder = LogFolder(runtime.log_dir)
    known = [c.component for c in runtime.store.children(session.id, kind=None)]
    if component is not None and component not in known:
        raise LogsError(f"session {session.id} has no component {component!r}"
                        f"{_did_you_mean(component, known)}; it has: {', '.join(known)}")
    if attempt is not None and component is None:
        raise LogsError("--attempt needs a COMPONENT: `ccs logs "
                        f"{session.id} COMPONENT --attempt {attempt}`")
    names = [component] if component else [c for c in known
                                           if c in folder.components(session.id)]
    if not names:
        raise LogsError(f"session {session.id} has no logs yet (its children have not "
                        "started, or `ccs prune` removed them)")
    if attempt is None:
        return "\n".join(render(folder, session.id, name) for name in names)
    kept = folder.attempts(session.id, names[0])
    if attempt not in kept:
        listed = ", ".join(map(str, kept)) or "none yet"
        raise LogsError(f"{names[0]} of session {session.id} has no attempt {attempt}; "
                        f"kept attempts: {listed}")
    return render(folder, session.id, names[0], [attempt])


def _session(runtime: LocalRuntime, session_id: str) -> SessionRow:
    try:
        return runtime.store.session(session_id, runtime.repository_key)
    except NotFound:
        ids = [s.id for s in runtime.store.sessions(runtime.repository_key, limit=1000)]
        hint = _did_you_mean(session_id, ids)
        if not hint:
            hint = ("; `ccs status` lists this repository's sessions" if ids
                    else "; this repository has no sessions")
        raise LogsError(f"no session {session_id!r} in {runtime.repo.path}{hint}") from None


def _did_you_mean(name: str, known: list[str]) -> str:
    prefixed = [k for k in known if k.startswith(name)] if name else []
    close = prefixed[:1] or difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""

