"""Run `ccs` as a user does, in a subprocess, and read its one JSON object."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def environment(extra: dict | None = None) -> dict:
    """Return this environment with ccs importable from this checkout."""
    return {**os.environ, "PYTHONPATH": str(PROJECT), **(extra or {})}


def ccs(repo: Path, *args: str, env: dict | None = None,
        timeout: float = 90) -> subprocess.CompletedProcess[str]:
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
