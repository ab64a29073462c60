"""Live progress in the terminal: `ccs run` says each phase of each attempt as it starts,
and `ccs status SESSION_ID --watch` in another shell follows the same session until it
rests, reading the same database."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.fakes.cli import body_of, ccs, coder_repo, environment

pytestmark = pytest.mark.slow

# `gated` waits for a file the test creates; `quick` finishes at once.
CODER = """\
import os, pathlib, time
component = os.environ["CCS_COMPONENT"]
gate = pathlib.Path(os.environ["E2E_GATE"])
while component == "gated" and not gate.exists():
    time.sleep(0.05)
for var, text in (("CCS_IMPLEMENTATION", "VALUE = 1\\n"),
                  ("CCS_TEST", "def test_value():\\n    assert True\\n")):
    path = pathlib.Path(os.environ[var])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
"""


class Lines:
    """Collect a process's lines in a thread; wait for one that holds a text."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.lines.append("<eof>")
            self._changed.notify_all()

    def wait_for(self, text: str, quiet_seconds: float = 120) -> None:
        """Wait until a line holds `text`; fail after `quiet_seconds` with no new line."""
        with self._changed:
            seen = -1
            while not any(text in line for line in self.lines):
                assert "<eof>" not in self.lines, f"ended without {text!r}: {self.lines}"
                if len(self.lines) == seen:
                    pytest.fail(f"no {text!r} and nothing new: {self.lines}")
                seen = len(self.lines)
                self._changed.wait(quiet_seconds)


def test_run_shows_phases_and_watch_from_another_shell_follows_it_to_rest(
        tmp_path: Path) -> None:
    repo = coder_repo(tmp_path / "shop", CODER, {"gated": 1, "quick": 0})
    gate = tmp_path / "gate"
    env = {"E2E_GATE": str(gate), "CCS_SANDBOX": "0"}
    run = subprocess.Popen([sys.executable, "-m", "service.cli", "run", "shop", "--json"],
                           cwd=repo, env=environment(env), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    watch = None
    try:
        progress = Lines(run.stderr)
        progress.wait_for("ccs: gated: attempt 1/1: coder")
        (listed,) = body_of(ccs(repo, "status", "--json", env=env))["sessions"]
        watch = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "status", listed["session"], "--watch"],
            cwd=repo, env=environment(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        watched = Lines(watch.stderr)
        # What happened before the watch began is folded from the stream too.
        watched.wait_for("ccs: gated: attempt 1/1: coder")
        watched.wait_for("ccs: quick: succeeded after 1 attempt(s), 1 passed")
        gate.touch()
        watched.wait_for("ccs: gated: attempt 1/1: tests")
        watched.wait_for(f"ccs: session {listed['session']}: complete")
        summary = watch.stdout.read()
        assert watch.wait(60) == 0
        assert f"session {listed['session']}: complete" in summary
        out = run.stdout.read()
        assert run.wait(60) == 0
    finally:
        for process in (run, watch):
            if process is not None and process.poll() is None:
                process.kill()
    assert '"status": "complete"' in out
    progress.wait_for("<eof>")
    text = "".join(progress.lines)
    assert "ccs: gated: attempt 1/1: tests" in text
    # One summary at the end, not one per redraw.
    assert text.count(f"session {listed['session']}: complete  (branch") == 1


def test_watch_needs_a_session_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    repo = coder_repo(tmp_path / "shop", CODER, {"quick": 0})
    done = ccs(repo, "status", "--watch")
    assert done.returncode == 2 and "--watch needs a SESSION_ID" in done.stderr
    done = ccs(repo, "status", "ffffffffff", "--watch")
    assert done.returncode == 2 and "ffffffffff" in done.stderr
