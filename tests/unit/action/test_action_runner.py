"""The child loop of action.runner, run through `python -m action run` on real git repos."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from service.domain.wire import parse_result
from tests.fakes.cli import HANG_GUARD
from tests.fakes.local import git

ROOT = Path(__file__).resolve().parents[3]
ENTRY = {"child": "c1", "component": "hasher", "context": "accounts",
         "child_branch": "ccs-accounts-1-hasher", "design": "docs/hasher.md",
         "implementation": "src/hasher.py", "test": "tests/test_hasher.py", "allow": []}
# The test passes when src/hasher.py says VALUE = 2; the coders below write it.
TEST_FILE = ("import pathlib\n\n\ndef test_value():\n"
             "    assert 'VALUE = 2' in pathlib.Path('src/hasher.py').read_text()\n\n\n"
             "def test_other():\n    assert True\n")
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "{test}",
          "--junitxml={junit}"]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """Return a detached checkout of a small repository with a test and an old file."""
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "src").mkdir()
    (repo / "tests" / "test_hasher.py").write_text(TEST_FILE)
    (repo / "src" / "old.py").write_text("OLD = 1\n")
    (repo / "src" / "hasher.py").write_text("VALUE = 0\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "--detach")
    return repo


def coder(tmp_path: Path, body: str) -> list[str]:
    """Write a Python coder script outside the checkout and return its argv."""
    script = tmp_path / "coder.py"
    script.write_text("import os, pathlib, sys, subprocess, time\n"
                      "attempt = int(os.environ['CCS_ATTEMPT'])\n" + body)
    return [sys.executable, str(script)]


def config(coder_argv: list[str], attempts: int = 3, coder_timeout: float = HANG_GUARD,
           test: list[str] | None = None, setup: list[str] | None = None) -> dict:
    """Return a job config."""
    return {"setup": {"command": setup, "timeout": HANG_GUARD} if setup else None,
            "coder": {"command": coder_argv, "timeout": coder_timeout},
            "test": {"command": test or PYTEST, "timeout": HANG_GUARD},
            "verify": None, "attempts": attempts}


def run_action(checkout: Path, cfg: dict, entry: dict | None = None,
               env: dict | None = None) -> tuple[subprocess.CompletedProcess, dict | None]:
    """Run `python -m action run` and return the process and the parsed result."""
    result_file = checkout.parent / "result.json"
    result_file.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "action", "run", "--entry", json.dumps(entry or ENTRY),
         "--config", json.dumps(cfg), "--session", "s1", "--workdir", str(checkout),
         "--result", str(result_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, **(env or {})})
    body = json.loads(result_file.read_text()) if result_file.exists() else None
    return done, body


def test_success_on_second_attempt_commits_to_the_child_branch(checkout, tmp_path) -> None:
    argv = coder(tmp_path, "pathlib.Path('src/hasher.py').write_text(f'VALUE = {attempt}\\n')\n")
    done, body = run_action(checkout, config(argv))
    assert done.returncode == 0, done.stderr
    result = parse_result(body)
    assert result.status == "succeeded" and result.attempts == 2
    assert result.tests.passed == 2 and result.tests.failed == 0
    assert result.branch == ENTRY["child_branch"]
    assert result.commit == git(checkout, "rev-parse", ENTRY["child_branch"])
    assert git(checkout, "log", "-1", "--format=%s", result.commit) == (
        "ccs: implement accounts.hasher")
    assert result.changed_files == ("src/hasher.py",)
    assert result.message == "tests passed on attempt 2 of 3: 2 passed"
    assert set(body) == {"status", "commit", "branch", "attempts", "tests", "changed_files",
                         "message"}


def test_feedback_file_on_attempt_two_holds_the_last_test_output(checkout, tmp_path) -> None:
    copy = tmp_path / "feedback-seen.txt"
    argv = coder(tmp_path, f"""
if attempt == 1:
    assert 'CCS_FEEDBACK' not in os.environ
    print('coder says oops', file=sys.stderr)
    sys.exit(4)
pathlib.Path({str(copy)!r}).write_text(pathlib.Path(os.environ['CCS_FEEDBACK']).read_text())
pathlib.Path('src/hasher.py').write_text('VALUE = 2\\n')
""")
    done, body = run_action(checkout, config(argv))
    assert body["status"] == "succeeded", done.stderr
    feedback = copy.read_text()
    assert "after attempt 1" in feedback
    assert "1 failed (test_value)" in feedback
    assert "failure: tests.test_hasher::test_value" in feedback
    assert "AssertionError" in feedback  # the pytest output itself
    assert "coder exited with code 4" in feedback and "coder says oops" in feedback
    assert not str(Path(feedback.split("\n")[0])).startswith(str(checkout))


def test_git_add_all_records_deletions_and_new_files(checkout, tmp_path) -> None:
    argv = coder(tmp_path, "pathlib.Path('src/old.py').unlink()\n"
                           "pathlib.Path('src/new.py').write_text('x = 1\\n')\n"
                           "pathlib.Path('src/hasher.py').write_text('VALUE = 2\\n')\n")
    _, body = run_action(checkout, config(argv, attempts=1))
    assert body["status"] == "succeeded"
    assert body["changed_files"] == ["src/hasher.py", "src/new.py", "src/old.py"]
    tree = git(checkout, "ls-tree", "-r", "--name-only", ENTRY["child_branch"]).split()
    assert "src/old.py" not in tree and "src/new.py" in tree
    assert git(checkout, "status", "--porcelain") == ""


def test_failure_after_all_attempts_names_the_failing_tests(checkout, tmp_path) -> None:
    argv = coder(tmp_path, "pathlib.Path('src/hasher.py').write_text('VALUE = 9\\n')\n")
    _, body = run_action(checkout, config(argv, attempts=2))
    result = parse_result(body)
    assert result.status == "failed" and result.attempts == 2
    assert result.tests.passed == 1 and result.tests.failed == 1
    assert result.message == "tests failed after 2 attempts: 1 failed (test_value)"
    # The work is still committed, so a human can look at it.
    assert result.changed_files == ("src/hasher.py",)


def test_nothing_changed_reports_the_start_commit(checkout, tmp_path) -> None:
    start = git(checkout, "rev-parse", "HEAD")
    _, body = run_action(checkout, config(coder(tmp_path, "pass\n"), attempts=1))
    assert body["commit"] == start and body["changed_files"] == []
    assert body["status"] == "failed"


def test_hanging_coder_with_grandchild_times_out_within_bounds(checkout, tmp_path) -> None:
    argv = coder(tmp_path, "subprocess.Popen(['sleep', '1000']).wait()\n")
    started = time.monotonic()
    _, body = run_action(checkout, config(argv, attempts=1, coder_timeout=1))
    # The coder alone would run 1,000 s: ending far sooner proves the time-out stopped it
    # (1 s + 2 s grace + tests and git; the bound leaves a loaded machine all the room).
    assert time.monotonic() - started < 300
    assert body["status"] == "failed"
    assert body["message"].startswith("coder timed out after 1 s on attempt 1; tests failed")


def test_without_junit_the_exit_code_counts_as_one_test(checkout, tmp_path) -> None:
    argv = coder(tmp_path, "pass\n")
    _, body = run_action(checkout, config(argv, attempts=1,
                                          test=[sys.executable, "-c", "pass"]))
    assert body["status"] == "succeeded"
    assert body["tests"] == {"passed": 1, "failed": 0, "errors": 0, "skipped": 0}
    _, body = run_action(checkout, config(argv, attempts=1,
                                          test=[sys.executable, "-c", "raise SystemExit(1)"]))
    assert body["tests"]["failed"] == 1
    assert body["message"] == ("tests failed after 1 attempt: "
                               "1 failed")


def test_zero_tests_is_a_failure(checkout, tmp_path) -> None:
    argv = coder(tmp_path, "pass\n")
    test = [*PYTEST, "-k", "no_such_test"]
    _, body = run_action(checkout, config(argv, attempts=1, test=test))
    assert body["status"] == "failed"
    assert body["message"] == "tests failed after 1 attempt: no tests ran"


def test_setup_failure_runs_no_attempt(checkout, tmp_path) -> None:
    argv = coder(tmp_path, "raise SystemExit('coder must not run')\n")
    setup = [sys.executable, "-c", "import sys; print('pip broke', file=sys.stderr); sys.exit(1)"]
    _, body = run_action(checkout, config(argv, setup=setup))
    assert body["status"] == "failed" and body["attempts"] == 0
    assert body["message"] == "setup exited with code 1 (pip broke)"


def test_placeholders_and_env_reach_the_coder(checkout, tmp_path) -> None:
    seen = tmp_path / "seen.json"
    script = tmp_path / "show.py"
    script.write_text(
        "import json, os, sys\n"
        f"json.dump({{'argv': sys.argv[1:], 'cwd': os.getcwd(), 'env': {{k: v for k, v in "
        f"os.environ.items() if k.startswith(('CCS_', 'ACTIONS_'))}}}}, "
        f"open({str(seen)!r}, 'w'))\n")
    argv = [sys.executable, str(script), "{context}/{component}", "{implementation}",
            "{attempt}", "{{literal}}"]
    run_action(checkout, config(argv, attempts=1),
               env={"CCS_JOB_TOKEN": "secret-token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"})
    shown = json.loads(seen.read_text())
    assert shown["argv"] == ["accounts/hasher", "src/hasher.py", "1", "{literal}"]
    assert Path(shown["cwd"]).resolve() == checkout.resolve()
    # The test suite's own settings (CCS_REQUIRE_SERVICES, CCS_TEST_*) pass through as-is.
    suite_vars = {k for k in shown["env"] if k.startswith("CCS_TEST_")} | {"CCS_REQUIRE_SERVICES"}
    # DESIGN §3a adds the rendered prompt and the usage file, both outside the checkout.
    for name in ("CCS_PROMPT", "CCS_USAGE"):
        assert not Path(shown["env"].pop(name)).resolve().is_relative_to(checkout.resolve())
    assert {k: v for k, v in shown["env"].items() if k not in suite_vars} == {
        "CCS_SESSION": "s1", "CCS_CONTEXT": "accounts", "CCS_COMPONENT": "hasher",
        "CCS_DESIGN": "docs/hasher.md", "CCS_IMPLEMENTATION": "src/hasher.py",
        "CCS_TEST": "tests/test_hasher.py", "CCS_ATTEMPT": "1"}


def test_no_git_identity_commits_as_ccs(checkout, tmp_path, monkeypatch) -> None:
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME",
                "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(var, raising=False)
    strict = tmp_path / "gitconfig"
    strict.write_text("[user]\n\tuseConfigOnly = true\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(strict))
    argv = coder(tmp_path, "pathlib.Path('src/hasher.py').write_text('VALUE = 2\\n')\n")
    _, body = run_action(checkout, config(argv, attempts=1))
    assert body["status"] == "succeeded"
    assert git(checkout, "log", "-1", "--format=%an <%ae>|%cn <%ce>", body["commit"]) == (
        "ccs <ccs@localhost>|ccs <ccs@localhost>")


def test_sigterm_cancels_and_still_writes_a_failed_result(checkout, tmp_path) -> None:
    argv = coder(tmp_path, "time.sleep(1000)\n")
    result_file = tmp_path / "result.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "action", "run", "--entry", json.dumps(ENTRY),
         "--config", json.dumps(config(argv, coder_timeout=100)), "--session", "s1",
         "--workdir", str(checkout), "--result", str(result_file)],
        cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while "attempt 1/3: coder" not in (process.stderr.readline() or "") and (
            time.monotonic() < deadline):
        pass
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    body = json.loads(result_file.read_text())
    assert body["status"] == "failed"
    assert body["message"] == "cancelled during attempt 1 (coder)"


@pytest.mark.parametrize(("entry", "cfg", "complaint"), [
    ("{not json", "{}", "entry: not valid JSON"),
    (json.dumps({**ENTRY, "child_branch": "main"}), "{}", "must start with 'ccs-'"),
    (json.dumps(ENTRY), json.dumps({"attempts": 0}), "'attempts' must be"),
    (json.dumps(ENTRY), json.dumps({"attempts": 1, "coder": None, "test": None}),
     "needs both 'coder' and 'test'"),
    ("@/no/such/file.json", "{}", "entry: cannot read"),
    (json.dumps({**ENTRY, "designs": ["../secret.md"]}), "{}", "entry: 'designs'"),
    (json.dumps({**ENTRY, "feedback": 3}), "{}", "entry: 'feedback' must be a string"),
])
def test_bad_input_exits_2_with_a_clear_message(checkout, entry, cfg, complaint) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "action", "run", "--entry", entry, "--config", cfg,
         "--session", "s1", "--workdir", str(checkout), "--result", str(checkout.parent / "r")],
        cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert complaint in done.stderr
    assert not (checkout.parent / "r").exists()


def test_entry_and_config_may_come_from_files(checkout, tmp_path) -> None:
    (tmp_path / "entry.json").write_text(json.dumps(ENTRY))
    argv = coder(tmp_path, "pathlib.Path('src/hasher.py').write_text('VALUE = 2\\n')\n")
    (tmp_path / "config.json").write_text(json.dumps(config(argv, attempts=1)))
    result_file = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, "-m", "action", "run", "--entry", f"@{tmp_path / 'entry.json'}",
         "--config", f"@{tmp_path / 'config.json'}", "--session", "s1",
         "--workdir", str(checkout), "--result", str(result_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(result_file.read_text())["status"] == "succeeded"


def test_an_integration_entry_starts_from_its_feedback_and_reads_every_design(
        checkout, tmp_path) -> None:
    (checkout / "docs").mkdir()
    (checkout / "docs" / "hasher.md").write_text("hash design\n")
    (checkout / "docs" / "store.md").write_text("store design\n")
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", "designs")
    seen = tmp_path / "seen.txt"
    argv = coder(tmp_path, f"""
feedback = pathlib.Path(os.environ['CCS_FEEDBACK']).read_text()
prompt = pathlib.Path(os.environ['CCS_PROMPT']).read_text()
pathlib.Path({str(seen)!r}).write_text(feedback + '|' + prompt)
pathlib.Path('src/hasher.py').write_text('VALUE = 2\\n')
""")
    entry = {**ENTRY, "component": "_integration", "designs": ["docs/hasher.md", "docs/store.md"],
             "feedback": "verify failed: 1 failed (test_seam)\n"}
    done, body = run_action(checkout, config(argv, attempts=2), entry)
    assert body["status"] == "succeeded" and body["attempts"] == 1, done.stderr
    feedback, prompt = seen.read_text().split("|", 1)
    assert feedback == "verify failed: 1 failed (test_seam)\n"
    assert "hash design" in prompt and "store design" in prompt
    assert "verify failed: 1 failed (test_seam)" in prompt


