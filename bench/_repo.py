"""Generated repositories and the `ccs` console script, shared by the end-to-end benchmarks.

Every component's coder (`python -S tools/coder.py`) writes its implementation and test
file; its test command (`python -S tools/fake_test.py {junit}`) writes a JUnit report of
one passing test. Children therefore do the least work that still passes Validate, so a
benchmark's figures are the floor of what ccs adds to the same work done by hand.
"""

from __future__ import annotations

import compileall
import fcntl
import functools
import json
import os
import pty
import shutil
import sqlite3
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONTEXT = "bench"
IDENTITY = {"GIT_AUTHOR_NAME": "ccs bench", "GIT_AUTHOR_EMAIL": "bench@ccs.invalid",
            "GIT_COMMITTER_NAME": "ccs bench", "GIT_COMMITTER_EMAIL": "bench@ccs.invalid",
            "GIT_CONFIG_NOSYSTEM": "1"}
# A fixed date makes every generated repository of one size start at the same commit.
FIXED_DATE = "2024-01-01T00:00:00+00:00"
TTY_COLUMNS, TTY_LINES = 120, 40

CODER = '''\
"""Bench coder: write the component's implementation and test files, nothing else."""
import os
import pathlib

for variable, text in (("CCS_IMPLEMENTATION", "VALUE = 1\\n"),
                       ("CCS_TEST", "def test_value():\\n    assert True\\n")):
    path = pathlib.Path(os.environ[variable])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
'''

FAKE_TEST = '''\
"""Bench test command: write a JUnit report with one passing test to argv[1]."""
import sys

with open(sys.argv[1], "w") as report:
    report.write('<testsuite name="bench" tests="1" failures="0" errors="0" skipped="0">'
                 '<testcase classname="bench" name="test_value" time="0"/></testsuite>')
'''

CODER_ARGV = ["python", "-S", "tools/coder.py"]
TEST_ARGV = ["python", "-S", "tools/fake_test.py", "{junit}"]


def component_names(n: int) -> list[str]:
    """Return N component names in spawn order (equal priority, so by name)."""
    return [f"c{i:04d}" for i in range(n)]


def paths_of(name: str) -> dict[str, str]:
    """Return the design, implementation and test path of a component."""
    return {"design": f"docs/design/{CONTEXT}/{name}.md",
            "implementation": f"src/{CONTEXT}/{name}.py",
            "test": f"tests/{CONTEXT}/test_{name}.py"}


def manifest_text(n: int, parallel: int, verify: list[str] | None = None) -> str:
    """Return a manifest with one context of N components and one attempt each."""
    lines = [
        "version: 1", "base: main", "paths:",
        "  design: docs/design/{context}/{component}.md",
        "  implementation: src/{context}/{component}.py",
        "  test: tests/{context}/test_{component}.py",
        "coder:", f"  command: {json.dumps(CODER_ARGV)}", "  timeout: 60", "  attempts: 1",
        "test:", f"  command: {json.dumps(TEST_ARGV)}", "  timeout: 60",
        f"parallel: {parallel}", "pull_request: {draft: true}",
    ]
    if verify:
        lines += ["verify:", f"  command: {json.dumps(verify)}", "  timeout: 60"]
    lines += ["contexts:", f"  {CONTEXT}:", "    description: generated for a benchmark",
              "    components:"]
    lines += [f"      - name: {name}" for name in component_names(n)]
    return "\n".join(lines) + "\n"


def git(cwd: Path, *args: str, env: dict[str, str] | None = None,
        jail: Sequence[str] = ()) -> str:
    """Run git (after `jail`, a sandbox's argv) with hooks off and a fixed identity; return
    stdout, raise with its stderr."""
    done = subprocess.run([*jail, "git", "-c", "core.hooksPath=/dev/null", *args], cwd=cwd,
                          capture_output=True, text=True, check=False,
                          env={**os.environ, **IDENTITY, **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:3])} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout


def make_repo(path: Path, n: int, parallel: int, verify: list[str] | None = None) -> str:
    """Create the generated repository at `path`; return its base commit."""
    (path / ".github").mkdir(parents=True)
    (path / ".github" / "ccs.yml").write_text(manifest_text(n, parallel, verify))
    (path / ".gitignore").write_text("/scratch/\n")
    (path / "tools").mkdir()
    (path / "tools" / "coder.py").write_text(CODER)
    (path / "tools" / "fake_test.py").write_text(FAKE_TEST)
    design = path / "docs" / "design" / CONTEXT
    design.mkdir(parents=True)
    for name in component_names(n):
        (design / f"{name}.md").write_text(f"# {name}\n\nReturn VALUE = 1.\n")
    git(path, "init", "--quiet", "--initial-branch=main")
    git(path, "add", "-A")
    git(path, "commit", "--quiet", "-m", "bench: generated repository",
        env={"GIT_AUTHOR_DATE": FIXED_DATE, "GIT_COMMITTER_DATE": FIXED_DATE})
    return git(path, "rev-parse", "HEAD").strip()


def ccs_program() -> list[str]:
    """Return the argv of the `ccs` console script installed beside this Python."""
    _compile_checkout()
    beside = Path(sys.executable).with_name("ccs")
    found = str(beside) if beside.exists() else shutil.which("ccs")
    if not found:
        raise SystemExit("the `ccs` console script is not installed: run "
                         "`pip install -e .` in this checkout's virtualenv first")
    return [found]


@functools.cache
def _compile_checkout() -> None:
    """Compile this checkout's stale modules, so `ccs` starts as an installed one does."""
    # An editable install has no .pyc files (a wheel does); with PYTHONDONTWRITEBYTECODE
    # every start would compile ccs from source, and the benchmark would measure that.
    for package in ("service", "action"):
        compileall.compile_dir(ROOT / package, quiet=1)


def ccs_env(**extra: str) -> dict[str, str]:
    """Return the environment for `ccs`: this checkout importable first, no stray CCS_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return {**env, **IDENTITY, **extra}


def ccs(repo: Path, *args: str, expect: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """Run `ccs ARGS --repo REPO --json` as a user does; return its JSON, raise on a bad exit.

    Its stderr is a pseudo-terminal, as in a user's shell, so the live progress table is
    drawn (and paid for); stdout, the JSON, is a pipe, as in `ccs run … --json | jq`.
    """
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", TTY_LINES, TTY_COLUMNS, 0, 0))
    tail: list[bytes] = []
    reader = threading.Thread(target=_drain, args=(leader, tail), daemon=True)
    try:
        process = subprocess.Popen([*ccs_program(), *args, "--repo", str(repo), "--json"],
                                   cwd=repo, stdout=subprocess.PIPE, stderr=follower,
                                   stdin=subprocess.DEVNULL, env=ccs_env())
    finally:
        os.close(follower)
    reader.start()
    stdout, _ = process.communicate()
    reader.join()
    if process.returncode not in expect:
        text = b"".join(tail).decode(errors="replace")
        raise RuntimeError(f"ccs {' '.join(args)} exited {process.returncode}: {text[-2000:]}")
    return json.loads(stdout) if stdout.strip() else {}


def _drain(leader: int, tail: list[bytes]) -> None:
    """Read the terminal side until ccs closes it; keep the last bytes for error messages."""
    with os.fdopen(leader, "rb", buffering=0) as terminal:
        while True:
            try:
                data = terminal.read(65536)
            except OSError:  # EIO: every writer closed the terminal
                return
            if not data:
                return
            tail.append(data)
            del tail[:-4]


def session_log(repo: Path, session_id: str) -> list[tuple[str, str, str]]:
    """Return (step, result, created_at) of a local session's interaction log, in order.

    Read with stdlib sqlite3 from the documented local database (DESIGN §4:
    `<repo>/.git/ccs/ccs.db`), so no ccs module is imported into the benchmark.
    """
    database = repo / ".git" / "ccs" / "ccs.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        return list(connection.execute(
            "SELECT step, result, created_at FROM interactions WHERE session_id = ? "
            "ORDER BY id", (session_id,)))


def child_commits(repo: Path, session_id: str) -> list[str]:
    """Return the commits of a local session's component children in spawn order."""
    database = repo / ".git" / "ccs" / "ccs.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "SELECT \"commit\" FROM children WHERE session_id = ? AND kind = 'component' "
            "ORDER BY position", (session_id,)).fetchall()
    return [commit for (commit,) in rows]
