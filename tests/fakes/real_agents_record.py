"""Record what the real agent CLIs print without a key into tests/data/agents/<cli>-<version>/.

Each case is one JSON file: the argv (`$TMP` for the run's temporary folder, `$PROMPT` for
the prompt file), the standard input, the exit code (null: killed at the timeout, as codex
must be), stdout and stderr. Run `python -m tests.fakes.real_agents_record`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from tests.fakes.real_agents import (
    RECORDINGS,
    make_scratch,
    pins,
    real_program,
    run_caged,
    scrub,
)

PROMPT = "Write src/shop/cart.py so that tests/shop/test_cart.py passes. Do not commit.\n"
PROMPT_MARK = "$PROMPT"
# The argv each preset builds for a typical run (DESIGN §3a, /work/shared/agents.md), and
# the refusals the fakes copy. The integration test checks the presets' own argv.
CLAUDE_RUN = [
    "-p", "--output-format", "json", "--permission-mode", "acceptEdits",
    "--allowedTools", "Bash(python -m pytest *)", "Edit", "Write",
    "--max-turns", "40", "--max-budget-usd", "2.0", "--model", "claude-sonnet-4-5",
]
CASES: dict[str, dict[str, tuple[list[str], str | None, float]]] = {
    "claude": {
        "help": (["--help"], None, 20),
        "signin": (CLAUDE_RUN, PROMPT, 20),
        "unknown_option": (["-p", "hi", "--no-such-flag"], None, 20),
        "stream_json_without_verbose": (["-p", "hi", "--output-format", "stream-json"], None, 20),
        "root_skip_permissions": (["-p", "hi", "--dangerously-skip-permissions"], None, 20),
        "root_bypass_permissions": (
            ["-p", "hi", "--permission-mode", "bypassPermissions"], None, 20
        ),
    },
    "codex": {
        "help": (["exec", "--help"], None, 20),
        # No sign-in error without the network: it retries until killed.
        "signin": (["exec", "--json", "-s", "workspace-write", "--skip-git-repo-check",
                    "-m", "gpt-5-codex", "-"], PROMPT, 6),
        "unknown_option": (["exec", "--full-auto", "hi"], None, 20),
    },
    "gemini": {
        "help": (["--help"], None, 30),
        "signin": (["-p", PROMPT, "--output-format", "json", "--approval-mode", "auto_edit",
                    "--skip-trust", "-m", "gemini-2.5-pro"], None, 30),
        "unknown_option": (["-p", "hi", "--no-such-flag"], None, 30),
        "untrusted": (["-p", "hi", "--output-format", "json", "--approval-mode", "yolo"], None, 30),
    },
    "aider": {
        "help": (["--help"], None, 30),
        # Without a model or key it waits for an OpenRouter sign-in in the browser.
        "signin": (["--message-file", PROMPT_MARK, "--yes-always", "--no-auto-commits",
                    "--no-check-update", "--analytics-disable", "src/shop/cart.py"], None, 15),
        "unknown_option": (["--no-such-flag"], None, 30),
    },
    "openhands": {
        "help": (["--help"], None, 60),
        "signin": (["--headless", "-f", PROMPT_MARK, "--json"], None, 60),
        "signin_envs": (["--headless", "-f", PROMPT_MARK, "--json", "--override-with-envs"],
                        None, 60),
        "unknown_option": (["--headless", "-f", PROMPT_MARK, "--no-such-flag"], None, 60),
    },
}


def record_case(program: str, case: str, scratch: Path) -> dict[str, object]:
    """Run one case of `program` in `scratch` and return its recording."""
    args, stdin, timeout = CASES[program][case]
    home, work = make_scratch(scratch)
    prompt_file = scratch / "prompt.md"
    prompt_file.write_text(PROMPT)
    argv = [str(real_program(program))]
    argv += [str(prompt_file) if arg == PROMPT_MARK else arg for arg in args]
    outcome = run_caged(argv, cwd=work, home=home, stdin=stdin, timeout=timeout)
    return {
        "program": program,
        "version": pins()[program].version,
        "case": case,
        "uid": os.getuid(),
        "argv": [program, *args],
        "stdin": stdin,
        "timeout": timeout,
        "exit_code": outcome.exit_code,
        "stdout": scrub(outcome.stdout, scratch),
        "stderr": scrub(outcome.stderr, scratch),
    }


def main() -> int:
    """Record every case of every installed CLI; say which were skipped."""
    for program, cases in CASES.items():
        if real_program(program) is None:
            print(f"skip {program}: not installed", file=sys.stderr)
            continue
        folder = RECORDINGS / f"{program}-{pins()[program].version}"
        folder.mkdir(parents=True, exist_ok=True)
        for case in cases:
            with tempfile.TemporaryDirectory(prefix="ccs-record-") as scratch:
                recording = record_case(program, case, Path(scratch))
            (folder / f"{case}.json").write_text(json.dumps(recording, indent=1) + "\n")
            print(f"{program} {case}: exit {recording['exit_code']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
