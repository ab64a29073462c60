"""The runner adopts and ends escaped descendants; logs keep their head and tail."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from action.logcap import CappedLog

ROOT = Path(__file__).resolve().parents[3]
# Runs as its own process: a subreaper in the pytest process would adopt pytest's orphans.
RUNNER = """
import os, sys
from action.commands import run_command
from action.reaper import become_subreaper
print("subreaper", become_subreaper(), flush=True)
outcome = run_command(["sh", "-c", sys.argv[1]], cwd=".", env=os.environ, timeout=30)
print("outcome", outcome.exit_code, flush=True)
"""
ESCAPEES = ("setsid sleep 600 & echo $! > escapees; "
            "(setsid sh -c 'sleep 600 & echo $! >> escapees' &) ; sleep 0.2")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] != b"Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_CHILD_SUBREAPER is Linux")
def test_setsid_and_double_forked_children_are_reaped_when_the_command_ends(
        tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", RUNNER, ESCAPEES], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "subreaper True" in done.stdout and "outcome 0" in done.stdout
    pids = [int(line) for line in (tmp_path / "escapees").read_text().split()]
    assert len(pids) == 2
    left = [pid for pid in pids if alive(pid)]
    for pid in left:  # never leave a sleeper behind, even when the assertion fails
        os.kill(pid, 9)
    assert left == []


def test_a_small_log_is_written_whole() -> None:
    sink = io.BytesIO()
    log = CappedLog(sink, head=10, tail=10)
    log.write(b"hello ")
    log.write(b"world!")
    log.close()
    assert sink.getvalue() == b"hello world!"


def test_a_big_log_keeps_head_and_tail_and_says_how_much_was_cut() -> None:
    sink = io.BytesIO()
    log = CappedLog(sink, head=4, tail=6)
    for chunk in (b"HEAD", b"-middle-", b"part-", b"TAIL!!"):
        assert log.write(chunk) == len(chunk)
    log.close()
    text = sink.getvalue().decode()
    assert text.startswith("HEAD\n[ccs: 13 bytes of output cut here;")
    assert text.endswith("]\nTAIL!!")
    assert len(text) < 4 + 6 + 120
