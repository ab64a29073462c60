"""The `ccs` command line (DESIGN §4): parse arguments and hand off to one module per area."""

from __future__ import annotations

import argparse
import gc
import importlib
import sys

EXIT_OK = 0
EXIT_ATTENTION = 1
EXIT_BAD_INPUT = 2
# The presets of DESIGN §3a (action/agents/ holds one module each; a test keeps them equal).
AGENTS = ("aider", "claude", "codex", "gemini", "openhands")

# Each subcommand lives in its own module; importing lazily keeps `ccs check` fast and
# keeps the web stack out of local runs.
HANDLERS = {
    "run": "service.cli.local:run",
    "retry": "service.cli.local:retry",
    "status": "service.cli.status:status",
    "cancel": "service.cli.local:cancel",
    "demo": "service.cli.local:demo",
    "logs": "service.cli.logs:logs",
    "prune": "service.cli.prune:prune",
    "check": "service.cli.manifest:check",
    "init": "service.cli.manifest:init",
    "serve": "service.cli.serve:serve",
    "worker": "service.cli.serve:worker",
    "db": "service.cli.serve:db",
}


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="ccs", description="Context Coding Sessions")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a session for a context on this machine")
    run.add_argument("context")
    _repo(run)
    run.add_argument("--only", help="comma-separated components (default: all)")
    run.add_argument("--parallel", type=int, help="children at once (default: manifest)")
    run.add_argument("--base", help="base ref (default: manifest base, else current branch)")
    run.add_argument("--push", action="store_true", help="push the finalized branch to origin")
    run.add_argument("--manifest", help="manifest path inside the repository")
    run.add_argument("--force", action="store_true",
                     help="start even when a session of this context is already running here")
    # For `ccs demo`, which prints its own summary from the JSON: one summary, not two.
    run.add_argument("--no-summary", action="store_true", help=argparse.SUPPRESS)
    _json(run)

    retry = sub.add_parser("retry", help="re-run what failed in a session")
    retry.add_argument("session_id")
    _repo(retry)
    _json(retry)

    status = sub.add_parser("status", help="show sessions, or one session")
    status.add_argument("session_id", nargs="?")
    status.add_argument("--watch", action="store_true",
                        help="live view of SESSION_ID until it rests (also from another shell)")
    _repo(status)
    _json(status)

    cancel = sub.add_parser("cancel", help="cancel a session")
    cancel.add_argument("session_id")
    _repo(cancel)

    check = sub.add_parser("check", help="validate the manifest and print the components")
    _repo(check)
    check.add_argument("--manifest", help="manifest path inside the repository")
    _json(check)

    demo = sub.add_parser("demo", help="run a full local session on the bundled example")
    demo.add_argument("--waves", action="store_true",
                      help="run the example's orders context instead: a component that needs "
                           "another (two waves) and an integration round fixing the seam")

    logs = sub.add_parser("logs", help="print what a session's coders and tests printed")
    logs.add_argument("session_id")
    logs.add_argument("component", nargs="?")
    logs.add_argument("--attempt", type=_positive, help="only this attempt (needs COMPONENT)")
    _repo(logs)

    prune = sub.add_parser("prune", help="remove branches, checkouts and logs of rested "
                                         "sessions")
    _repo(prune)
    prune.add_argument("--older-than", type=_non_negative, default=0, metavar="DAYS",
                       help="only sessions that rested at least DAYS days ago (default 0)")
    _json(prune)

    serve = sub.add_parser("serve", help="run the web service with an in-process worker")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="web worker processes")
    serve.add_argument("--no-worker", action="store_true", help="do not consume the queue")
    serve.add_argument("--worker-threads", type=int, default=2,
                       help="threads of the in-process queue worker")

    worker = sub.add_parser("worker", help="run an extra queue worker process")
    worker.add_argument("--threads", type=int, default=2)

    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"])

    init = sub.add_parser("init", help="scaffold .github/ccs.yml and the workflow")
    _repo(init)
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.add_argument("--agent", choices=AGENTS,
                      help="write that agent preset (and its usual secret) into the manifest")
    return parser


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 1")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def _repo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", default=".", help="repository path (default: .)")


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    args = build_parser().parse_args(argv)
    program = argv is None  # the console script; a test calling in keeps its collector
    handler = _load(HANDLERS[args.command], freeze=program)
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        print("ccs: interrupted", file=sys.stderr)
        return 130
    finally:
        if program:
            # The interpreter's last collection walks every object still alive: ~0.2-0.5 s
            # after `ccs run` printed its answer. The process ends; nothing needs collecting.
            gc.freeze()


def _load(target: str, *, freeze: bool):
    """Import a subcommand's handler; with `freeze`, keep its modules out of the collector."""
    module_name, func_name = target.split(":")
    if not freeze:
        return getattr(importlib.import_module(module_name), func_name)
    # The imports make ~10^5 objects that live as long as the process: the collector walked
    # them again and again while they loaded (~0.2 s CPU of `ccs run`) and at every full
    # collection after. Frozen, they are out of its way; new objects are still collected.
    gc.disable()
    try:
        return getattr(importlib.import_module(module_name), func_name)
    finally:
        gc.freeze()
        gc.enable()


if __name__ == "__main__":
    sys.exit(main())
