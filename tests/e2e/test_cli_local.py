"""`ccs run` / `ccs retry` / `ccs status` as a user runs them: real processes on a real repo."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from service.cli.demo import prepare
from tests.fakes.cli import body_of, ccs, children, coder_repo, environment
from tests.fakes.local import git

pytestmark = pytest.mark.slow

CATALOG = ["isbn", "money", "inventory", "pricing"]
ALWAYS_FAIL = "<!-- ccs-example: always-fail -->"
SESSION_KEYS = {"session", "status", "branch", "children", "message"}
CHILD_KEYS = {"component", "status", "attempts", "message"}


def assert_session_shape(body: dict) -> None:
    assert set(body) >= SESSION_KEYS, body
    assert isinstance(body["session"], str) and isinstance(body["message"], str)
    for child in body["children"]:
        assert set(child) >= CHILD_KEYS, child
        assert isinstance(child["attempts"], int)


def own_branches(repo: Path) -> list[str]:
    listed = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/")
    return [b for b in listed.splitlines() if b.startswith(("ccs/", "ccs-"))]


def assert_user_checkout_untouched(repo: Path, head: str) -> None:
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "symbolic-ref", "--short", "HEAD") == "main"
    assert git(repo, "status", "--porcelain") == ""
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def commit_all(repo: Path, message: str) -> None:
    git(repo, "commit", "--quiet", "-am", message)


@pytest.fixture
def bookshop(tmp_path: Path) -> Path:
    return prepare(tmp_path)


# The happy path ---------------------------------------------------------------------


def test_run_push_finalizes_the_context_and_leaves_the_checkout_alone(bookshop: Path,
                                                                      tmp_path: Path) -> None:
    head = git(bookshop, "rev-parse", "HEAD")
    done = ccs(bookshop, "run", "catalog", "--push", "--json")
    assert done.returncode == 0, done.stderr
    body = body_of(done)
    assert_session_shape(body)
    assert body["status"] == "complete"
    assert body["branch"] == f"ccs/catalog-{body['session']}"
    assert [c["component"] for c in body["children"]] == CATALOG
    assert {c["status"] for c in body["children"]} == {"succeeded"}
    assert "finalized: 4 component(s)" in body["message"]
    assert_user_checkout_untouched(bookshop, head)

    origin = tmp_path / "origin.git"
    pushed = git(origin, "rev-parse", f"refs/heads/{body['branch']}")
    assert pushed == git(bookshop, "rev-parse", body["branch"])
    checkout = tmp_path / "pushed"
    git(tmp_path, "clone", "--quiet", "--branch", body["branch"], str(origin), str(checkout))
    for name in CATALOG:
        assert (checkout / "src" / "catalog" / f"{name}.py").stat().st_size > 0
        assert (checkout / "tests" / "catalog" / f"test_{name}.py").stat().st_size > 0
    suite = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                           cwd=checkout, capture_output=True, text=True, timeout=120,
                           check=False)
    assert suite.returncode == 0, suite.stdout[-2000:]

    status = ccs(bookshop, "status", body["session"], "--json")
    assert status.returncode == 0 and body_of(status)["status"] == "complete"
    listing = body_of(ccs(bookshop, "status", "--json"))
    assert [s["session"] for s in listing["sessions"]] == [body["session"]]


# The validation loop ----------------------------------------------------------------


def test_a_failing_component_then_the_user_fixes_the_design_and_retries(bookshop: Path) -> None:
    design = bookshop / "docs" / "design" / "catalog" / "pricing.md"
    original = design.read_text()
    design.write_text(ALWAYS_FAIL + "\n" + original)
    commit_all(bookshop, "Pricing: mark the design as broken")
    head = git(bookshop, "rev-parse", "HEAD")

    failed = ccs(bookshop, "run", "catalog", "--json")
    assert failed.returncode == 1, failed.stderr
    body = body_of(failed)
    assert_session_shape(body)
    assert body["status"] == "needs_attention"
    assert children(body)["pricing"]["status"] == "failed"
    assert "tests failed after 3 attempts" in children(body)["pricing"]["message"]
    assert "pricing: tests failed" in body["message"]
    assert f"ccs retry {body['session']}" in body["message"]
    assert_user_checkout_untouched(bookshop, head)
    kept = {name: git(bookshop, "rev-parse", f"ccs-child/{body['session']}/{name}")
            for name in ("isbn", "money", "inventory")}

    design.write_text(original)
    commit_all(bookshop, "Pricing: fix the design")
    fixed_head = git(bookshop, "rev-parse", "HEAD")
    retried = ccs(bookshop, "retry", body["session"], "--json")
    assert retried.returncode == 0, retried.stderr
    after = body_of(retried)
    assert_session_shape(after)
    assert after["status"] == "complete" and after["session"] == body["session"]
    for name, sha in kept.items():
        assert git(bookshop, "rev-parse", f"ccs-child/{body['session']}/{name}") == sha
        assert children(after)[name]["attempts"] == children(body)[name]["attempts"]
    assert children(after)["pricing"]["status"] == "succeeded"
    # Only pricing ran again: the progress lines name no other child starting.
    started = [line for line in retried.stderr.splitlines() if line.endswith(": running")
               and not line.startswith("ccs: session")]
    assert started == ["ccs: pricing: running"]
    # The finalized branch sits on the fixed base.
    assert git(bookshop, "rev-parse", f"{after['branch']}^") == fixed_head
    assert_user_checkout_untouched(bookshop, fixed_head)

    again = ccs(bookshop, "retry", body["session"], "--json")
    assert again.returncode == 0 and body_of(again)["status"] == "complete"
    assert "running" not in again.stderr


# Bad input: exit 2, one JSON object, nothing run -------------------------------------


def assert_rejected(done: subprocess.CompletedProcess[str], says: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    body = body_of(done)
    assert set(body) == {"session", "status", "message"}
    assert body["session"] is None and body["status"] == "rejected"
    assert says in body["message"]


def assert_nothing_ran(repo: Path) -> None:
    assert own_branches(repo) == []
    assert not (repo / ".git" / "ccs" / "logs").exists()
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_bad_input_is_rejected_and_nothing_runs(bookshop: Path, tmp_path: Path) -> None:
    assert_rejected(ccs(bookshop, "run", "nope", "--json"), "unknown context 'nope'")
    assert_rejected(ccs(bookshop, "run", "catalog", "--only", "nope", "--json"),
                    "no component 'nope'")
    assert_rejected(ccs(bookshop, "retry", "0123abcdef", "--json"), "no session")
    assert_rejected(ccs(bookshop, "status", "0123abcdef", "--json"), "no session")
    not_a_repo = tmp_path / "plain"
    not_a_repo.mkdir()
    assert_rejected(ccs(not_a_repo, "run", "catalog", "--json"), "not a git repository")

    readme = bookshop / "README.md"
    readme.write_text(readme.read_text() + "\nlocal edit\n")
    assert_rejected(ccs(bookshop, "run", "catalog", "--json"), "uncommitted changes")
    git(bookshop, "checkout", "--quiet", "--", "README.md")

    manifest = bookshop / ".github" / "ccs.yml"
    manifest.write_text(manifest.read_text().replace("base: main\n", ""))
    commit_all(bookshop, "No base in the manifest")
    git(bookshop, "checkout", "--quiet", "--detach")
    assert_rejected(ccs(bookshop, "run", "catalog", "--json"), "HEAD is detached")
    git(bookshop, "checkout", "--quiet", "main")

    manifest.write_text(manifest.read_text().replace(
        "test: tests/{context}/test_{component}.py", "test: ../x"))
    commit_all(bookshop, "An unsafe path")
    assert_rejected(ccs(bookshop, "run", "catalog", "--json"), "unsafe path '../x'")
    assert_nothing_ran(bookshop)


# Children that misbehave -------------------------------------------------------------

CODER = """\
import os, pathlib, time
component = os.environ["CCS_COMPONENT"]
log = os.environ.get("E2E_CODER_LOG")
if log:
    with open(log, "a") as ran:
        ran.write(component + "\\n")
if component == "hang":
    time.sleep(60)
if component == "slow":
    time.sleep(float(os.environ.get("E2E_SLOW_SECONDS", "0")))
if component == "vandal":
    pathlib.Path("KEEP.md").unlink()
for var, text in (("CCS_IMPLEMENTATION", "VALUE = 1\\n"),
                  ("CCS_TEST", "def test_value():\\n    assert True\\n")):
    path = pathlib.Path(os.environ[var])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
"""


def shop(tmp_path: Path, components: dict[str, int], coder_timeout: int = 60) -> Path:
    """Make a repository whose coder misbehaves on purpose for some components."""
    return coder_repo(tmp_path / "shop", CODER, components, coder_timeout=coder_timeout,
                      description="misbehaving coders", files={"KEEP.md": "not yours\n"})


def test_a_hanging_coder_times_out_and_a_vandal_fails_the_scope_guard(tmp_path: Path) -> None:
    repo = shop(tmp_path, {"hang": 2, "vandal": 1, "fine": 0}, coder_timeout=2)
    head = git(repo, "rev-parse", "HEAD")
    started = time.monotonic()
    done = ccs(repo, "run", "shop", "--json", timeout=60)
    elapsed = time.monotonic() - started
    print(f"hanging coder session took {elapsed:.1f} s")
    assert elapsed < 55  # the hanging coder alone takes 60 s: it was stopped at its time-out
    assert done.returncode == 1, done.stderr
    body = body_of(done)
    assert_session_shape(body)
    assert body["status"] == "needs_attention"
    kids = children(body)
    assert kids["hang"]["status"] == "failed"
    assert "timed out after 2 s" in kids["hang"]["message"]
    assert kids["vandal"]["status"] == "failed"
    assert "changed files outside its own: KEEP.md" in kids["vandal"]["message"]
    assert kids["fine"]["status"] == "succeeded"
    assert "hang:" in body["message"] and "vandal:" in body["message"]
    assert (repo / "KEEP.md").read_text() == "not yours\n"
    assert_user_checkout_untouched(repo, head)


@pytest.mark.parametrize("sandbox", ["0", "1"])
def test_ctrl_c_cancels_the_children_and_retry_finishes_only_what_was_left(
        tmp_path: Path, sandbox: str) -> None:
    repo = shop(tmp_path, {"fast": 1, "slow": 0})
    # The coder logs outside its checkout: sandboxed (DESIGN §8), only in a folder it may
    # write, an agent state folder of HOME.
    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    ran = home / ".cache" / "coder.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "run", "shop", "--json"], cwd=repo,
        env=environment({"E2E_SLOW_SECONDS": "60", "E2E_CODER_LOG": str(ran),
                         "CCS_SANDBOX": sandbox, "HOME": str(home)}),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    progress: list[str] = []
    reader = threading.Thread(target=lambda: progress.extend(process.stderr), daemon=True)
    reader.start()
    deadline, seen = time.monotonic() + 30, 0
    # Wait until the fast child has succeeded and the slow coder is sleeping (the deadline
    # counts from the last progress line: a loaded machine is slower, never red).
    while not (any(line.startswith("ccs: fast: succeeded") for line in progress)
               and ran.exists() and "slow" in ran.read_text().split()):
        if len(progress) != seen:
            seen, deadline = len(progress), time.monotonic() + 30
        if time.monotonic() > deadline or process.poll() is not None:
            process.send_signal(signal.SIGINT)  # let ccs stop its runners, not orphan them
            process.wait(30)
            pytest.fail("the fast child never finished: " + "".join(progress))
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    out = process.stdout.read()
    assert process.wait(30) == 1, "".join(progress)
    reader.join(10)
    assert "ccs: interrupted; stopping children\n" in progress
    body = json.loads(out)
    assert body["status"] == "cancelled"
    assert {c["component"]: c["status"] for c in body["children"]} == {
        "fast": "succeeded", "slow": "cancelled"}
    assert len(git(repo, "worktree", "list").splitlines()) == 1

    retried = ccs(repo, "retry", body["session"], "--json",
                  env={"E2E_CODER_LOG": str(ran), "CCS_SANDBOX": sandbox, "HOME": str(home)})
    assert retried.returncode == 0, retried.stderr
    assert body_of(retried)["status"] == "complete"
    # The two children start in parallel, so only the counts are fixed: the retry re-ran
    # slow alone.
    assert sorted(ran.read_text().split()) == ["fast", "slow", "slow"]


@pytest.mark.parametrize("sandbox", ["0", "1"])
def test_cancel_from_another_shell_stops_the_running_children(tmp_path: Path,
                                                             sandbox: str) -> None:
    repo = shop(tmp_path, {"fast": 1, "slow": 0})
    # Sandboxed (its children run in threads of `ccs run`, each command jailed), the coder
    # may write its log only in a folder it may write: an agent state folder of HOME.
    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    ran = home / ".cache" / "coder.log"
    env = {"E2E_SLOW_SECONDS": "600", "E2E_CODER_LOG": str(ran), "CCS_SANDBOX": sandbox,
           "HOME": str(home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "run", "shop", "--json"], cwd=repo,
        env=environment(env), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 120  # a loaded machine is slower, never red
        while not (ran.exists() and "slow" in ran.read_text().split()):
            assert process.poll() is None and time.monotonic() < deadline, "slow never started"
            time.sleep(0.1)
        (listed,) = body_of(ccs(repo, "status", "--json", env=env))["sessions"]
        cancelled = ccs(repo, "cancel", listed["session"], env=env)
        assert cancelled.returncode == 0, cancelled.stderr
        # The slow coder sleeps 600 s: `ccs run` ends long before only if it was stopped.
        assert process.wait(120) == 1
    finally:
        if process.poll() is None:
            process.kill()
    body = json.loads(process.stdout.read())
    assert body["status"] == "cancelled"
    assert children(body)["slow"]["status"] == "cancelled"
    assert not list((repo / ".git" / "ccs" / "run").glob("*.pid"))  # nothing left behind
