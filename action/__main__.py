"""Command line: `python -m action run ...` (the loop) and `python -m action job` (in Actions)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from action.commands import trap_signals
from action.progress import ProgressFile
from action.reaper import become_subreaper
from action.runner import Runner, run_component, run_verify
from action.spec import (
    InputError,
    load_json,
    parse_component_entry,
    parse_config,
    parse_verify_entry,
)

EXIT_BAD_INPUT = 2


def command_run(args: argparse.Namespace) -> int:
    """Run the child loop (or, with `verify`, the verify command) and write the result JSON."""
    verify = args.command == "verify"
    try:
        body = load_json(args.entry, "entry")
        entry = parse_verify_entry(body) if verify else parse_component_entry(body)
        config = parse_config(load_json(args.config, "config"))
        if not verify and (config.coder is None or config.test is None):
            raise InputError("config: component mode needs both 'coder' and 'test' commands")
        if verify and config.verify is None:
            raise InputError("config: verify mode needs a 'verify' command")
        workdir = Path(args.workdir)
        if not (workdir / ".git").exists():
            raise InputError(f"--workdir {workdir}: not a git checkout")
    except InputError as error:
        print(f"ccs: bad input: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    runner = Runner(session=args.session, workdir=workdir, echo=sys.stderr.buffer,
                    progress=ProgressFile(Path(args.progress) if args.progress else None),
                    logs=Path(args.logs) if args.logs else None)
    trap_signals(runner.cancel)
    become_subreaper()
    try:
        result = (run_verify(entry, config, runner) if verify
                  else run_component(entry, config, runner))
    finally:
        runner.close()
    Path(args.result).write_text(json.dumps(result.to_json(), indent=2) + "\n",
                                 encoding="utf-8")
    print(f"ccs: {result.status}: {result.message}", file=sys.stderr)
    return 0


def command_job(args: argparse.Namespace) -> int:
    """Run one matrix entry inside GitHub Actions (inputs from CCS_JOB_* env)."""
    from action.job import main as job_main

    return job_main(fallback=args.fallback)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for both subcommands."""
    parser = argparse.ArgumentParser(prog="python -m action", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the coder → tests loop in a checkout")
    run.add_argument("--entry", required=True, help="matrix entry: JSON or @file")
    run.add_argument("--config", required=True, help="job config: JSON or @file")
    run.add_argument("--session", required=True, help="session id")
    run.add_argument("--workdir", required=True, help="the checkout to work in")
    run.add_argument("--result", required=True, help="where to write the result JSON")
    run.add_argument("--progress", help="append a JSON line here as each phase starts")
    run.add_argument("--logs", help="folder for each attempt's prompt.md, coder.log, tests.log")
    run.set_defaults(handler=command_run)
    verify = commands.add_parser("verify", help="run the verify command once in a checkout")
    for flag, text in (("--entry", "verify entry: JSON or @file"),
                       ("--config", "job config: JSON or @file"), ("--session", "session id"),
                       ("--workdir", "the checkout to work in"),
                       ("--result", "where to write the result JSON")):
        verify.add_argument(flag, required=True, help=text)
    verify.add_argument("--progress", help="append a JSON line here as each phase starts")
    verify.add_argument("--logs", help="folder for verify.log")
    verify.set_defaults(handler=command_run)
    job = commands.add_parser("job", help="run one matrix entry inside GitHub Actions")
    job.add_argument("--fallback", action="store_true",
                     help="only post a failed result (the final step, when the main one did not)")
    job.set_defaults(handler=command_job)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen subcommand."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
