"""`ccs status` start-up time against a bare interpreter start.

    python bench/cli_startup.py [--sizes 1,5,20] [--pairs 5]
    python bench/cli_startup.py --quick          # 1 session, 2 pairs, seconds

Setup per N (not timed): a generated repository (bench/_repo.py) with N finished sessions
of one component each, made by `ccs run`.

Subject: the `ccs` console script in a subprocess, `ccs status --repo R --json`, the way a
user's shell runs it: interpreter start, imports, opening the local database, one query,
the JSON. Baselines, each interleaved with it: `python -c pass` (the floor any Python CLI
pays) and `python -c "import sqlite3"` (the floor of a Python CLI that reads a SQLite
file). Both use the interpreter the console script runs on.

Figures: seconds per start (goal < 0.3 s) and the ratio to each baseline.
Writes results/cli_startup.{json,md,png}.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Figures, arguments, interleave, pairs_of, report, should_write, sizes_of
from _repo import CONTEXT, ccs_env, ccs_program, make_repo

GOAL = "ccs status < 0.3 s"
BASELINES = {"vs python -c pass": "pass", "vs python -c 'import sqlite3'": "import sqlite3"}


def add_sessions(repo: Path, count: int) -> None:
    """Run `count` more one-component sessions in the repository."""
    for _ in range(count):
        done = subprocess.run([*ccs_program(), "run", CONTEXT, "--repo", str(repo), "--json"],
                              capture_output=True, text=True, env=ccs_env(), check=False,
                              stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"seeding a session failed: {done.stderr[-1000:]}")


def status_run(repo: Path, sessions: int) -> Figures:
    """Run `ccs status --json` once; check that it lists every session."""
    done = subprocess.run([*ccs_program(), "status", "--repo", str(repo), "--json"],
                          capture_output=True, text=True, env=ccs_env(), check=False,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0 or done.stdout.count('"session"') != sessions:
        raise RuntimeError(f"ccs status did not list {sessions} sessions: {done.stderr[-500:]}")
    return {}


def python_run(code: str) -> Figures:
    """Start the same interpreter with `-c code`."""
    subprocess.run([sys.executable, "-c", code], check=True, stdin=subprocess.DEVNULL)
    return {}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    args = arguments(__doc__.splitlines()[0], "1,5,20", "1").parse_args(argv)
    comparisons = []
    with tempfile.TemporaryDirectory(prefix="ccs-bench-startup-") as temp:
        repo, seeded = Path(temp) / "repo", 0
        make_repo(repo, 1, 1)
        for n in sorted(sizes_of(args)):
            add_sessions(repo, n - seeded)
            seeded = n
            for label, code in BASELINES.items():
                comparisons.append(interleave(
                    label, n, lambda n=n: status_run(repo, n),
                    lambda code=code: python_run(code), pairs=pairs_of(args)))
    if should_write(args):
        report("cli_startup", "ccs status start-up vs a bare interpreter", comparisons,
               goal=GOAL, ylabel="seconds per start", notes="N = sessions in the repository.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
