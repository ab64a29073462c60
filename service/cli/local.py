"""Local commands: run, retry, status, cancel and demo (DESIGN §4)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from service.adapters.db.watch import SessionWatch
from service.adapters.git_repo import GitError
from service.bootstrap import LocalRuntime, local
from service.cli import EXIT_ATTENTION, EXIT_OK
from service.cli.progress import Progress
from service.cli.show import describe, describe_list, session_body, session_list
from service.cli.show import print_body as _print
from service.cli.show import reject as _reject
from service.domain.commands import CancelSession, RetrySession, StartSession
from service.domain.manifest import MANIFEST_PATH
from service.domain.states import ChildKind, SessionStatus
from service.orchestrator.errors import BadInput
from service.orchestrator.ports import SessionRecord

POLL_SECONDS = 0.25


def run(args: argparse.Namespace) -> int:
    """`ccs run CONTEXT`: start a session and wait for it to rest."""
    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None

    def start(runtime: LocalRuntime) -> SessionRecord:
        _check_not_running(runtime, args.context, force=args.force)
        return runtime.bus.handle(StartSession(
            repository=runtime.repository_key, context=args.context,
            components=tuple(only or ()), base=args.base or None,
            manifest_path=args.manifest or MANIFEST_PATH, push=args.push,
            parallel=args.parallel, source="cli"))

    return _drive(args, start, parallel=args.parallel)


def _check_not_running(runtime: LocalRuntime, context: str, *, force: bool) -> None:
    """Refuse (or, with --force, warn) when a session of `context` is running here."""
    running = [s for s in runtime.store.sessions(runtime.repository_key, limit=1000)
               if s.context == context and not SessionStatus(s.status).is_terminal]
    if not running:
        return
    other = running[0]
    what = (f"session {other.id} of context {context!r} is already {other.status} in this "
            f"repository (branch {other.branch}); watch it with `ccs status {other.id} "
            f"--watch`, or stop it with `ccs cancel {other.id}`")
    if not force:
        raise BadInput(f"{what}; pass --force to start another one anyway",
                       code="already_running", status=409)
    print(f"ccs: warning: {what}; starting another one (--force)", file=sys.stderr)


def retry(args: argparse.Namespace) -> int:
    """`ccs retry SESSION_ID`: re-run what failed and wait for the session to rest."""
    def start(runtime: LocalRuntime) -> SessionRecord:
        return runtime.bus.handle(RetrySession(repository=runtime.repository_key,
                                               session_id=args.session_id, source="cli"))

    return _drive(args, start, parallel=None)


def status(args: argparse.Namespace) -> int:
    """`ccs status [SESSION_ID]`: show one session, or this repository's sessions.

    The full road (SQLAlchemy, migrations); `service.cli.status` reads without it.
    """
    if getattr(args, "watch", False):
        return watch(args)
    try:
        with _runtime(args) as runtime:
            if args.session_id:
                body = session_json(runtime, runtime.bus.ports.session(
                    args.session_id, runtime.repository_key))
                _print(args, body, human=describe(body))
                return EXIT_OK
            body = session_list(runtime.store.sessions(runtime.repository_key))
            _print(args, body, human=describe_list(body))
            return EXIT_OK
    except (GitError, BadInput) as error:
        return _reject(args, str(error))


def watch(args: argparse.Namespace) -> int:
    """`ccs status SESSION_ID --watch`: the live table until the session rests; exit as run."""
    if not args.session_id:
        return _reject(args, "--watch needs a SESSION_ID (see `ccs status` for the list)")
    try:
        with _runtime(args) as runtime:
            runtime.bus.ports.session(args.session_id, runtime.repository_key)
            progress = Progress()
            try:
                seen = _follow(SessionWatch(runtime.store, args.session_id), progress,
                               until=lambda w: w.rested)
            except KeyboardInterrupt:
                return EXIT_ATTENTION
            finally:
                progress.close()
            body = session_json(runtime, seen.session)
            _print(args, body, human=describe(body))
            return EXIT_OK if seen.session.status == SessionStatus.COMPLETE else EXIT_ATTENTION
    except (GitError, BadInput) as error:
        return _reject(args, str(error))


def _follow(seen: SessionWatch, progress: Progress, until, tick=None) -> SessionWatch:
    """Redraw from the event stream every POLL_SECONDS until `until(watch)` holds."""
    while True:
        if tick is not None:
            tick()
        seen.poll()
        progress.update(seen.session, seen.children, seen.view)
        if until(seen):
            return seen
        if tick is None:  # a tick waits by itself
            _sleep(POLL_SECONDS)


def _sleep(seconds: float) -> None:
    threading.Event().wait(seconds)


def cancel(args: argparse.Namespace) -> int:
    """`ccs cancel SESSION_ID`: mark a session and its children cancelled."""
    try:
        with _runtime(args) as runtime:
            session = runtime.bus.handle(CancelSession(repository=runtime.repository_key,
                                                       session_id=args.session_id,
                                                       source="cli"))
            print(f"session {session.id}: {session.status}", file=sys.stderr)
            return EXIT_OK
    except (GitError, BadInput) as error:
        return _reject(args, str(error))


@contextmanager
def _runtime(args: argparse.Namespace) -> Iterator[LocalRuntime]:
    runtime = local(Path(args.repo))
    try:
        yield runtime
    finally:
        runtime.close()


def demo(args: argparse.Namespace) -> int:
    """`ccs demo`: a full local session on the bundled example."""
    from service.cli.demo import CONTEXT, WAVES_CONTEXT, run_demo

    return run_demo(WAVES_CONTEXT if getattr(args, "waves", False) else CONTEXT)


def _drive(args: argparse.Namespace, start, parallel: int | None) -> int:
    try:
        runtime = local(Path(args.repo), parallel)
    except GitError as error:
        return _reject(args, str(error))
    progress = Progress()
    session_id = None
    _stop_on_sigterm()
    try:
        session = start(runtime)
        session_id = session.id
        print(f"ccs: session {session.id} on {session.branch}", file=sys.stderr)
        _wait(runtime, session.id, progress)
    except BadInput as error:
        progress.close()
        runtime.close()
        return _reject(args, _with_hint(args, error))
    except KeyboardInterrupt:
        if session_id:
            print("ccs: interrupted; stopping children", file=sys.stderr)
            runtime.bus.handle(CancelSession(repository=runtime.repository_key,
                                             session_id=session_id, source="cli"))
            runtime.executor.wait()
    finally:
        progress.close()
    try:
        if session_id is None:
            return _reject(args, "interrupted before the session started")
        session = runtime.store.session(session_id)
        body = session_json(runtime, session)
        _print(args, body, human=describe(body))
        return EXIT_OK if session.status == SessionStatus.COMPLETE else EXIT_ATTENTION
    finally:
        runtime.close()


def _with_hint(args: argparse.Namespace, error: BadInput) -> str:
    """Add what to do when the manifest is in the working tree but not in the base commit."""
    path = getattr(args, "manifest", None) or MANIFEST_PATH
    if error.code == "no_manifest" and (Path(args.repo) / path).is_file():
        return (f"{error}. {path} is in your working tree but not committed: `ccs run` reads "
                "the base commit (`ccs check` reads the working tree), so commit it first")
    return str(error)


def _stop_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so children are stopped and marked cancelled."""
    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def _wait(runtime: LocalRuntime, session_id: str, progress: Progress) -> None:
    state = {"done": False}

    def tick() -> None:
        state["done"] = runtime.executor.wait(timeout=POLL_SECONDS)
        if not state["done"]:
            # budget.minutes passes with no result to count it: check it as time goes by.
            runtime.bus.check_budget(session_id)

    # The table follows the event stream: a tick reads the new events and the rows they
    # name, never every child.
    _follow(SessionWatch(runtime.store, session_id), progress, lambda _: state["done"], tick)


def session_json(runtime: LocalRuntime, session: SessionRecord) -> dict[str, Any]:
    """Return the DESIGN §4 JSON object for a session (`usage` where anything was spent)."""
    return session_body(session, runtime.store.children(session.id)
                        + runtime.store.children(session.id, kind=ChildKind.INTEGRATION))
