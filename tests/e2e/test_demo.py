"""`ccs demo`: a full local session on the bundled example, well under a minute."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]


def test_demo_finalizes_and_names_the_branch_and_commit(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "TMPDIR": str(tmp_path)}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "service.cli", "demo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    print(f"ccs demo took {time.monotonic() - started:.1f} s")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^branch +ccs/catalog-[0-9a-f]{10} \(pushed to origin\)$", done.stdout,
                     re.MULTILINE), done.stdout
    assert re.search(r"^commit +[0-9a-f]{40}$", done.stdout, re.MULTILINE), done.stdout
    assert "tests     " in done.stdout and "across 4 components" in done.stdout
    # One summary only: the run's own (stderr) stays out, the demo's (stdout) is printed.
    assert len(re.findall(r"attempts=\d", done.stdout + done.stderr)) == 4
