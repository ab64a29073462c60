"""Keeping a repository tidy and runs apart: `ccs prune`, a second `ccs run`, verify scope."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes.cli import body_of, ccs, coder_repo, environment
from tests.fakes.local import git

pytestmark = pytest.mark.slow

# Passes unless the component is called `broken`; waits for a gate file when one is named.
CODER = '''import os, pathlib, sys, time
gate = os.environ.get("SHOP_GATE")
while gate and not os.path.exists(gate):
    time.sleep(0.05)
name = os.environ["CCS_COMPONENT"]
impl = pathlib.Path(os.environ["CCS_IMPLEMENTATION"])
impl.parent.mkdir(parents=True, exist_ok=True)
impl.write_text("VALUE = %d\\n" % (0 if name == "broken" else 2))
test = pathlib.Path(os.environ["CCS_TEST"])
test.parent.mkdir(parents=True, exist_ok=True)
test.write_text("import sys\\nsys.path.insert(0, 'src/shop')\\nfrom %s import VALUE\\n"
                "def test_value():\\n    assert VALUE == 2\\n" % impl.stem)
'''
# Exits 0 only when `{context}` became the context name and `{{context}}` stayed as written.
VERIFY = """verify:
  command:
    - python
    - -c
    - "import sys; sys.exit(0 if sys.argv[1:] == ['tests/shop', '{' + 'context' + '}'] else 3)"
    - tests/{context}
    - "{{context}}"
"""
STATUS_DEADLINE = 120.0


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return coder_repo(tmp_path / "shop", CODER, {"alpha": 1, "broken": 0})


def branches(repo: Path) -> set[str]:
    return set(git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split())


def logs_of(repo: Path, session: str) -> Path:
    return repo / ".git" / "ccs" / "logs" / session


# ccs prune -------------------------------------------------------------------------


def test_prune_removes_what_rested_sessions_left_and_keeps_what_a_retry_needs(
        shop: Path) -> None:
    complete = body_of(ccs(shop, "run", "shop", "--only", "alpha", "--json"))
    attention = body_of(ccs(shop, "run", "shop", "--json"))
    cancelled = body_of(ccs(shop, "run", "shop", "--json"))
    assert ccs(shop, "cancel", cancelled["session"]).returncode == 0
    assert (complete["status"], attention["status"]) == ("complete", "needs_attention")
    git(shop, "branch", "feature")
    git(shop, "branch", "ccs-mine")  # under ccs-, but no session of ccs's owns it
    before = branches(shop)

    young = ccs(shop, "prune", "--older-than", "1", "--json")
    assert young.returncode == 0, young.stderr
    assert body_of(young)["pruned"] == [] and branches(shop) == before

    pruned = ccs(shop, "prune")
    assert pruned.returncode == 0, pruned.stderr
    c, a, x = complete["session"], attention["session"], cancelled["session"]
    assert f"session {c} (complete): removed 1 branch(es) (ccs-child/{c}/alpha)" in pruned.stdout
    assert f"session {a}: kept (needs attention" in pruned.stdout
    assert f"session {x} (cancelled): removed 3 branch(es)" in pruned.stdout
    removed = {f"ccs-child/{c}/alpha", f"ccs-child/{x}/alpha", f"ccs-child/{x}/broken",
               f"ccs/shop-{x}"}
    assert branches(shop) == before - removed
    assert {"main", "feature", "ccs-mine", f"ccs/shop-{c}", f"ccs/shop-{a}",
            f"ccs-child/{a}/alpha", f"ccs-child/{a}/broken"} <= branches(shop)
    assert not logs_of(shop, c).exists() and not logs_of(shop, x).exists()
    assert (logs_of(shop, a) / "broken" / "attempt-1" / "tests.log").is_file()

    again = body_of(ccs(shop, "prune", "--json"))
    assert [p["branches"] for p in again["pruned"]] == [[], []]
    assert {k["session"] for k in again["kept"]} == {a}
    retried = ccs(shop, "retry", a, "--json")
    assert body_of(retried)["status"] == "needs_attention"  # broken is still broken


# A second `ccs run` of the same context --------------------------------------------


def wait_until_running(repo: Path, first: subprocess.Popen) -> str:
    """Return the id of the session the first run started, once it is running."""
    deadline = time.monotonic() + STATUS_DEADLINE
    while time.monotonic() < deadline:
        assert first.poll() is None, first.communicate()
        listed = json.loads(ccs(repo, "status", "--json").stdout)["sessions"]
        if listed and listed[0]["status"] == "running":
            return listed[0]["session"]
        time.sleep(0.2)
    raise AssertionError("the first session never started running")


def test_a_second_run_of_a_running_context_is_refused_unless_forced(shop: Path,
                                                                  tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    env = environment({"SHOP_GATE": str(gate)})
    command = [sys.executable, "-m", "service.cli", "run", "shop", "--only", "alpha", "--json"]
    first = subprocess.Popen(command, cwd=shop, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        running = wait_until_running(shop, first)
        refused = ccs(shop, "run", "shop", "--json")
        assert refused.returncode == 2
        assert body_of(refused)["status"] == "rejected"
        message = body_of(refused)["message"]
        assert f"session {running} of context 'shop' is already running" in message
        assert f"`ccs status {running} --watch`" in message
        assert f"`ccs cancel {running}`" in message and "--force" in message
        assert len(json.loads(ccs(shop, "status", "--json").stdout)["sessions"]) == 1

        forced = subprocess.Popen([*command, "--force"], cwd=shop, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        gate.touch()
        out, err = forced.communicate(timeout=300)
        assert forced.returncode == 0, err
        assert f"warning: session {running} of context 'shop'" in err
        assert json.loads(out)["session"] != running
    finally:
        gate.touch()
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err


# verify with {context} --------------------------------------------------------------


def test_verify_can_be_scoped_to_the_context(shop: Path) -> None:
    manifest = shop / ".github" / "ccs.yml"
    manifest.write_text(manifest.read_text() + VERIFY)
    git(shop, "commit", "--quiet", "-am", "verify the shop's tests only")
    run = ccs(shop, "run", "shop", "--only", "alpha", "--json")
    assert run.returncode == 0, run.stderr
    assert body_of(run)["status"] == "complete"

    manifest.write_text(manifest.read_text().replace("tests/{context}", "tests/{component}"))
    git(shop, "commit", "--quiet", "-am", "verify something else")
    wrong = ccs(shop, "run", "shop", "--only", "alpha", "--json")
    assert wrong.returncode == 1 and "verify failed" in body_of(wrong)["message"]
