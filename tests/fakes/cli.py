"""Run `ccs` as a user does, in a subprocess, and read its one JSON object."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


# A deadline only against a hung process, never a measure of speed: on a loaded 2-core
# machine (the suite runs four files at once) a whole retry or a test command that takes
# seconds alone took over 90 s, and a loaded machine must make the suite slower, not red.
HANG_GUARD = 600


def environment(extra: dict | None = None) -> dict:
    """Return this environment with ccs importable from this checkout."""
    return {**os.environ, "PYTHONPATH": str(PROJECT), **(extra or {})}


def ccs(repo: Path, *args: str, env: dict | None = None,
        timeout: float = HANG_GUARD) -> subprocess.CompletedProcess[str]:
    """Run `python -m service.cli ARGS` in `repo` and return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args], cwd=repo, env=environment(env),
        capture_output=True, text=True, timeout=timeout, check=False)


def body_of(done: subprocess.CompletedProcess[str]) -> dict:
    """Return the one JSON object stdout holds (json.loads refuses anything more)."""
    body = json.loads(done.stdout)
    assert isinstance(body, dict)
    return body


def children(body: dict) -> dict[str, dict]:
    """Return a session body's children by component."""
    return {c["component"]: c for c in body["children"]}


def coder_repo(repo: Path, coder: str, components: dict[str, int], *, coder_timeout: int = 60,
               description: str = "test coders", files: dict[str, str] | None = None) -> Path:
    """Make and commit a repository whose coder is the Python program `coder`, with one
    context `shop` of the given components (name -> priority), one attempt each."""
    from tests.fakes.local import git

    (repo / ".github").mkdir(parents=True)
    (repo / "tools").mkdir()
    (repo / "tools" / "coder.py").write_text(coder)
    for path, text in (files or {}).items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    listed = "".join(f"      - {{name: {name}, priority: {p}}}\n"
                     for name, p in components.items())
    (repo / ".github" / "ccs.yml").write_text(
        "version: 1\n"
        f"coder: {{command: [python, tools/coder.py], timeout: {coder_timeout}, attempts: 1}}\n"
        "test:\n  command: [python, -m, pytest, -q, -p, 'no:cacheprovider', '{test}',"
        " '--junitxml={junit}']\n  timeout: 60\n"
        f"contexts:\n  shop:\n    description: {description}\n    components:\n" + listed)
    for name in components:
        design = repo / "docs" / "design" / "shop" / f"{name}.md"
        design.parent.mkdir(parents=True, exist_ok=True)
        design.write_text(f"# {name}\n")
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "shop")
    return repo
