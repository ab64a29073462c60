"""Attempt boundaries: the runner appends a line per phase; the executor's tail reads them
back as untrusted input and records each one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from service.adapters.local.progress_tail import ProgressTail, progress_data
from tests.fakes.cli import HANG_GUARD
from tests.fakes.local import git

ROOT = Path(__file__).resolve().parents[3]
ENTRY = {"child": "c1", "component": "hasher", "context": "accounts",
         "child_branch": "ccs-accounts-1-hasher", "design": "docs/hasher.md",
         "implementation": "src/hasher.py", "test": "tests/test_hasher.py", "allow": []}
# Attempt 1 writes VALUE = 1 (its test fails), attempt 2 VALUE = 2 (it passes).
CODER = ("import os, pathlib\n"
         "pathlib.Path('src/hasher.py').write_text(f\"VALUE = {os.environ['CCS_ATTEMPT']}\\n\")\n")
TEST = ("import pathlib\n\n\ndef test_value():\n"
        "    assert 'VALUE = 2' in pathlib.Path('src/hasher.py').read_text()\n")


def checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "src").mkdir()
    (repo / "tests" / "test_hasher.py").write_text(TEST)
    (repo / "src" / "hasher.py").write_text("VALUE = 0\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "--detach")
    return repo


def test_the_runner_reports_setup_then_coder_and_tests_of_each_attempt(tmp_path: Path) -> None:
    (tmp_path / "coder.py").write_text(CODER)
    config = {"setup": {"command": [sys.executable, "-c", "pass"], "timeout": HANG_GUARD},
              "coder": {"command": [sys.executable, str(tmp_path / "coder.py")],
                        "timeout": HANG_GUARD},
              "test": {"command": [sys.executable, "-m", "pytest", "-q", "-p",
                                   "no:cacheprovider", "{test}", "--junitxml={junit}"],
                       "timeout": HANG_GUARD}, "verify": None, "attempts": 3}
    progress = tmp_path / "progress.jsonl"
    subprocess.run(
        [sys.executable, "-m", "action", "run", "--entry", json.dumps(ENTRY), "--config",
         json.dumps(config), "--session", "s1", "--workdir", str(checkout(tmp_path)),
         "--result", str(tmp_path / "result.json"), "--progress", str(progress)],
        cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD, env=dict(os.environ),
        check=True)
    lines = [progress_data(line) for line in progress.read_text().splitlines()]
    assert lines == [{"phase": "setup", "attempt": 0, "attempts": 0},
                     {"phase": "coder", "attempt": 1, "attempts": 3},
                     {"phase": "tests", "attempt": 1, "attempts": 3},
                     {"phase": "coder", "attempt": 2, "attempts": 3},
                     {"phase": "tests", "attempt": 2, "attempts": 3}]


def test_lines_that_are_not_progress_are_ignored() -> None:
    assert progress_data('{"phase": "rm -rf", "attempt": 1}') is None
    assert progress_data('{"phase": "coder", "attempt": "1"}') is None
    assert progress_data('{"phase": "coder", "attempt": true}') is None
    assert progress_data('{"phase": "coder", "attempt": 1, "attempts": 99999}') is None
    assert progress_data("not json") is None
    assert progress_data('{"phase": "tests", "attempt": 2, "attempts": 3, "x": "y"}') == {
        "phase": "tests", "attempt": 2, "attempts": 3}


def test_the_tail_records_whole_lines_only_and_reads_the_rest_when_stopped(
        tmp_path: Path) -> None:
    path = tmp_path / "progress.jsonl"
    seen: list[dict] = []
    first = threading.Event()

    def record(data: dict) -> None:
        seen.append(data)
        first.set()

    tail = ProgressTail(path, record)
    tail.start()
    with path.open("a") as sink:
        sink.write('{"phase": "coder", "attempt": 1, "attempts": 2}\n{"phase": "te')
    assert first.wait(30)
    with path.open("a") as sink:
        sink.write('sts", "attempt": 1, "attempts": 2}\n')
    tail.stop()
    assert [d["phase"] for d in seen] == ["coder", "tests"]
