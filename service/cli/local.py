"""Local commands: run, retry, status, cancel and demo (DESIGN §4)."""

from __future__ import annotations

import argparse
import json
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
from service.cli import EXIT_ATTENTION, EXIT_BAD_INPUT, EXIT_OK
from service.cli.progress import Progress
from service.domain.commands import CancelSession, RetrySession, StartSession
from service.domain.manifest import MANIFEST_PATH
from service.domain.spend import total_usage, usage_of
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
    """`ccs status [SESSION_ID]`: show one session, or this repository's sessions."""
    if getattr(args, "watch", False):
        return watch(args)
    try:
        with _runtime(args) as runtime:
            if args.session_id:
                body = session_json(runtime, runtime.bus.ports.session(
                    args.session_id, runtime.repository_key))
                _print(args, body, human=describe(body))
                return EXIT_OK
            bodies = [{"session": s.id, "context": s.context, "status": s.status,
                       "branch": s.branch, "created_at": s.created_at.isoformat()}
                      for s in runtime.store.sessions(runtime.repository_key)]
            _print(args, {"sessions": bodies}, human="\n".join(
                f"{b['session']}  {b['status']:<16} {b['context']:<20} {b['branch']}"
                for b in bodies) or "no sessions in this repository")
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
    children = runtime.store.children(session.id)
    body: dict[str, Any] = {
        "session": session.id, "status": session.status, "branch": session.branch,
        "commit": session.final_commit, "children": [], "message": session.message,
    }
    for child in children:
        entry: dict[str, Any] = {
            "component": child.component, "status": child.status, "attempts": child.attempts,
            "message": child.message, "wave": int(child.spec.get("wave") or 0),
            "tests": {"passed": child.tests_passed, "failed": child.tests_failed,
                      "errors": child.tests_errors, "skipped": child.tests_skipped}}
        if usage_of(child).spent:
            entry["usage"] = usage_of(child).to_json()
        body["children"].append(entry)
    total = total_usage(children)
    if total.spent:
        body["usage"] = total.to_json()
    for row in runtime.store.children(session.id, kind=ChildKind.INTEGRATION):
        # DESIGN §3b: what the integration round after a failing verify did.
        body["integration"] = {"status": row.status, "attempts": row.attempts,
                               "message": row.message,
                               "changed_files": list(row.changed_files or [])}
    return body


def describe(body: dict[str, Any]) -> str:
    """Return the human summary printed at the end of a command."""
    lines = [f"session {body['session']}: {body['status']}  (branch {body['branch']})"]
    for child in body.get("children", []):
        tests = child["tests"]
        lines.append(f"  {child['component']:<24} {child['status']:<10} "
                     f"attempts={child['attempts']} tests={tests['passed']} passed"
                     + (f", {tests['failed'] + tests['errors']} failed"
                        if tests["failed"] or tests["errors"] else ""))
    integration = body.get("integration")
    if integration:
        changed = ", ".join(integration["changed_files"]) or "nothing"
        lines.append(f"  {'integration':<24} {integration['status']:<10} "
                     f"attempts={integration['attempts']} changed {changed}")
    if body.get("usage"):
        spent = body["usage"]
        lines.append(f"  spent ${spent['cost_usd']:,.2f} · {spent['input_tokens']:,} in / "
                     f"{spent['output_tokens']:,} out tokens")
    if body.get("message"):
        lines.append(body["message"])
    return "\n".join(lines)


def _print(args: argparse.Namespace, body: dict[str, Any], human: str) -> None:
    if getattr(args, "json", False):
        if not getattr(args, "no_summary", False):
            print(human, file=sys.stderr)
        print(json.dumps(body, indent=2))
    else:
        print(human)


def _reject(args: argparse.Namespace, message: str) -> int:
    print(f"ccs: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"session": None, "status": "rejected", "message": message}))
    return EXIT_BAD_INPUT
