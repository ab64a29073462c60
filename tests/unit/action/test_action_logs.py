"""`python -m action run --logs DIR`: each attempt's prompt, coder output and test output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.cli import HANG_GUARD
from tests.fakes.local import git

ROOT = Path(__file__).resolve().parents[3]
ENTRY = {"child": "c1", "component": "hasher", "context": "accounts",
         "child_branch": "ccs-accounts-1-hasher", "design": "docs/hasher.md",
         "implementation": "src/hasher.py", "test": "tests/test_hasher.py", "allow": []}
TEST = [sys.executable, "-c", "import pathlib, sys; print('checking');"
        "sys.exit(0 if 'VALUE = 2' in pathlib.Path('src/hasher.py').read_text() else 1)"]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "hasher.py").write_text("VALUE = 0\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "--detach")
    return repo


def run(checkout: Path, coder: list[str], logs: Path, setup: list[str] | None = None) -> dict:
    config = {"setup": {"command": setup, "timeout": HANG_GUARD} if setup else None,
              "coder": {"command": coder, "timeout": HANG_GUARD},
              "test": {"command": TEST, "timeout": HANG_GUARD}, "verify": None, "attempts": 3}
    result = checkout.parent / "result.json"
    subprocess.run([sys.executable, "-m", "action", "run", "--entry", json.dumps(ENTRY),
                    "--config", json.dumps(config), "--session", "s1",
                    "--workdir", str(checkout), "--result", str(result), "--logs", str(logs)],
                   cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD, check=True,
                   env=dict(os.environ))
    return json.loads(result.read_text())


def test_each_attempt_writes_its_three_files(checkout: Path, tmp_path: Path) -> None:
    coder = tmp_path / "coder.py"
    coder.write_text("import os, pathlib\nattempt = int(os.environ['CCS_ATTEMPT'])\n"
                     "print(f'coder attempt {attempt}')\n"
                     "pathlib.Path('src/hasher.py').write_text(f'VALUE = {attempt}\\n')\n")
    logs = tmp_path / "logs"
    body = run(checkout, [sys.executable, str(coder)], logs,
               setup=[sys.executable, "-c", "print('set up')"])
    assert body["status"] == "succeeded" and body["attempts"] == 2
    assert sorted(p.name for p in logs.iterdir()) == ["attempt-1", "attempt-2", "setup.log"]
    assert (logs / "setup.log").read_text() == "set up\n"
    for number in (1, 2):
        folder = logs / f"attempt-{number}"
        assert f"This is attempt {number} of 3." in (folder / "prompt.md").read_text()
        assert (folder / "coder.log").read_text() == f"coder attempt {number}\n"
        assert (folder / "tests.log").read_text() == "checking\n"


def test_a_coder_that_cannot_start_says_so_in_its_log(checkout: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    body = run(checkout, ["no-such-coder-for-ccs"], logs)
    assert body["status"] == "failed" and body["attempts"] == 1
    assert "was not found on PATH" in (logs / "attempt-1" / "coder.log").read_text()
    assert not (logs / "attempt-1" / "tests.log").exists()
