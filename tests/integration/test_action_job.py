"""A simulated GitHub Actions job running action/action.yml against local git and HTTP."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from service.domain.wire import parse_result
from tests.fakes.actions_env import CallbackServer, OidcServer, github_env, run_action
from tests.fakes.cli import HANG_GUARD
from tests.fakes.local import git

ACTION_DIR = Path(__file__).resolve().parents[2] / "action"
SESSION_BRANCH = "ccs/accounts-abc123"
CHILD_BRANCH = "ccs-accounts-abc123-hasher"
JOB_TOKEN = "ghs_secretjobtoken123"
ENTRY = {"child": "child-7", "component": "hasher", "context": "accounts",
         "child_branch": CHILD_BRANCH, "design": "docs/hasher.md",
         "implementation": "src/hasher.py", "test": "tests/test_hasher.py", "allow": []}
TEST_FILE = ("import pathlib\n\n\ndef test_value():\n"
             "    assert 'VALUE = 2' in pathlib.Path('src/hasher.py').read_text()\n")
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "{test}",
          "--junitxml={junit}"]
# Small delays so that retry and timeout paths finish in seconds.
FAST_RETRIES = {"CCS_JOB_RETRY_DELAY": "0.05", "CCS_JOB_RETRY_TRIES": "4",
                "CCS_JOB_HTTP_TIMEOUT": "0.5", "CCS_JOB_RETRY_BUDGET": "4"}


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """Return a bare repository with a session branch holding a component's test."""
    seed = tmp_path / "seed"
    (seed / "tests").mkdir(parents=True)
    (seed / "src").mkdir()
    (seed / "tests" / "test_hasher.py").write_text(TEST_FILE)
    (seed / "src" / "hasher.py").write_text("VALUE = 0\n")
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "base")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    git(bare, "branch", SESSION_BRANCH, "main")
    return bare


@pytest.fixture
def oidc():
    """Run the runner's OIDC token endpoint."""
    with OidcServer() as server:
        yield server


def coder_argv(tmp_path: Path, body: str) -> list[str]:
    """Write a coder script outside any checkout and return its argv."""
    script = tmp_path / "coder.py"
    script.write_text("import os, pathlib, subprocess, sys, time\n" + body)
    return [sys.executable, str(script)]


def job_config(coder: list[str], attempts: int = 2, coder_timeout: float = HANG_GUARD,
               verify: list[str] | None = None) -> str:
    """Return the `config` input."""
    return json.dumps({
        "setup": None, "coder": {"command": coder, "timeout": coder_timeout},
        "test": {"command": PYTEST, "timeout": HANG_GUARD},
        "verify": {"command": verify, "timeout": HANG_GUARD} if verify else None,
        "attempts": attempts})


def run_job(tmp_path: Path, origin: Path, oidc: OidcServer, callback: CallbackServer,
            config: str, *, mode: str = "component", entry: dict | None = None,
            extra_inputs: dict | None = None, **kwargs):
    """Run action.yml for one entry the way a hosted runner would."""
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    env = {**github_env(workspace, oidc=oidc), "CCS_JOB_REPO_URL": str(origin),
           "GITHUB_TOKEN": JOB_TOKEN, **FAST_RETRIES}
    inputs = {"entry": json.dumps(entry or ENTRY), "config": config, "session": "abc123",
              "branch": SESSION_BRANCH, "callback": callback.url, "mode": mode,
              **(extra_inputs or {})}
    return run_action(ACTION_DIR, inputs, env, workspace, **kwargs)


def fetch_bundle(tmp_path: Path, origin: Path, bundle: bytes) -> Path:
    """Return a clone of the session branch with the bundle's one ref fetched in."""
    path = tmp_path / "child.bundle"
    path.write_bytes(bundle)
    clone = tmp_path / "check"
    git(tmp_path, "clone", "-q", "-b", SESSION_BRANCH, str(origin), str(clone))
    git(clone, "fetch", "-q", str(path), f"+refs/heads/{CHILD_BRANCH}:refs/heads/{CHILD_BRANCH}")
    return clone


def test_a_succeeding_coder_sends_its_commit_as_a_bundle_and_reports_once(tmp_path, origin,
                                                                          oidc):
    coder = coder_argv(tmp_path, "pathlib.Path('src/hasher.py').write_text('VALUE = 2\\n')\n")
    with CallbackServer() as callback:
        job = run_job(tmp_path, origin, oidc, callback, job_config(coder))
    assert job.conclusion == "success", job.log
    assert len(callback.requests) == 1
    # On the way, each attempt boundary was posted beside the result, with a token.
    assert [(p.path, p.json()["phase"]) for p in callback.progress] == [
        ("/api/v1/children/child-7/progress", "coder"),
        ("/api/v1/children/child-7/progress", "tests")]
    assert all(p.headers["authorization"].startswith("Bearer ") for p in callback.progress)
    request = callback.requests[0]
    assert request.path == "/api/v1/children/child-7/result"
    assert request.headers["authorization"] == f"Bearer {OidcServer.token_for(callback.url)}"
    assert oidc.requests[0].query["audience"] == [callback.url]
    body = request.json()
    result = parse_result(body)
    assert result.status == "succeeded" and result.attempts == 1
    # The job pushed nothing (it holds no write credential): the commit is in the bundle,
    # built on the session head.
    assert "refs/heads/" + CHILD_BRANCH not in git(origin, "for-each-ref")
    clone = fetch_bundle(tmp_path, origin, result.bundle)
    assert result.commit == git(clone, "rev-parse", f"refs/heads/{CHILD_BRANCH}")
    assert git(clone, "rev-parse", f"{CHILD_BRANCH}^") == git(origin, "rev-parse",
                                                                SESSION_BRANCH)
    assert git(clone, "show", f"{CHILD_BRANCH}:src/hasher.py") == "VALUE = 2"
    assert result.branch == CHILD_BRANCH and result.changed_files == ("src/hasher.py",)
    assert result.run_id == 4242
    assert result.log_url == "https://github.example/octo/repo/actions/runs/4242"
    assert job.outputs == {"status": "succeeded", "commit": result.commit, "attempts": "1"}
    assert "ccs hasher: succeeded" in job.summary
    assert job.step("Report a job that ended early").skipped
    assert JOB_TOKEN not in job.log and "jwt-for:" not in job.log


def test_a_commit_too_big_to_travel_fails_the_child_saying_so(tmp_path, origin, oidc):
    coder = coder_argv(tmp_path, "pathlib.Path('src/hasher.py').write_text('VALUE = 2\\n')\n"
                                 "pathlib.Path('blob.bin').write_bytes(os.urandom(7 * 2**20))\n")
    with CallbackServer() as callback:
        job = run_job(tmp_path, origin, oidc, callback, job_config(coder))
    result = parse_result(callback.requests[0].json())
    assert result.status == "failed" and result.bundle is None, job.log
    assert "more than the 8 MiB a result may carry" in result.message


def test_a_crashing_coder_still_reports_a_failed_result(tmp_path, origin, oidc):
    coder = coder_argv(tmp_path, "print('model quota exceeded', file=sys.stderr)\nsys.exit(3)\n")
    with CallbackServer() as callback:
        job = run_job(tmp_path, origin, oidc, callback, job_config(coder))
    assert job.conclusion == "failure"
    assert len(callback.results) == 1
    result = parse_result(callback.results[0].json())
    assert result.status == "failed" and result.attempts == 2
    assert result.message == ("coder exited with code 3 (model quota exceeded) on attempt 2; "
                              "tests failed after 2 attempts: 1 failed (test_value)")
    errors = job.annotations("error")
    assert any(a.properties.get("title") == "ccs hasher: test_value" for a in errors)
    assert any(a.message == result.message for a in errors)
    assert "| 2 | 0 | 1 | 0 | 0 |" in job.summary


def test_a_hanging_coder_is_killed_at_its_timeout(tmp_path, origin, oidc):
    coder = coder_argv(tmp_path, "subprocess.Popen(['sleep', '1000']).wait()\n")
    started = time.monotonic()
    with CallbackServer() as callback:
        job = run_job(tmp_path, origin, oidc, callback,
                      job_config(coder, attempts=1, coder_timeout=1))
    assert time.monotonic() - started < 300  # the coder alone sleeps 1,000 s
    result = parse_result(callback.results[0].json())
    assert result.status == "failed"
    assert result.message.startswith("coder timed out after 1 s on attempt 1")
    assert job.conclusion == "failure"


def test_the_callback_failing_twice_is_retried(tmp_path, origin, oidc):
    coder = coder_argv(tmp_path, "pathlib.Path('src/hasher.py').write_text('VALUE = 2\\n')\n")
    with CallbackServer([503, 502]) as callback:
        job = run_job(tmp_path, origin, oidc, callback, job_config(coder))
    assert job.conclusion == "success", job.log
    assert len(callback.requests) == 3 and len(callback.results) == 1
    assert callback.requests[0].body == callback.requests[2].body


def test_already_recorded_counts_as_delivered(tmp_path, origin, oidc):
    coder = coder_argv(tmp_path, "pathlib.Path('src/hasher.py').write_text('VALUE = 2\\n')\n")
    with CallbackServer([409]) as callback:
        job = run_job(tmp_path, origin, oidc, callback, job_config(coder))
    assert job.conclusion == "success"
    assert job.step("Report a job that ended early").skipped


def test_a_callback_that_never_answers_fails_the_job_in_bounded_time(tmp_path, origin, oidc):
    coder = coder_argv(tmp_path, "pathlib.Path('src/hasher.py').write_text('VALUE = 2\\n')\n")
    started = time.monotonic()
    with CallbackServer([None] * 10) as callback:
        job = run_job(tmp_path, origin, oidc, callback, job_config(coder))
    assert time.monotonic() - started < 120  # bounded: a callback that never answers
    assert job.conclusion == "failure"
    errors = job.annotations("error")
    assert any("could not be delivered" in e.message for e in errors), errors
    assert 1 < len(callback.requests) <= 4
    # The fallback step must not post the same result all over again.
    assert job.step("Report a job that ended early").skipped


def test_a_refused_result_is_not_retried(tmp_path, origin, oidc):
    coder = coder_argv(tmp_path, "pass\n")
    with CallbackServer([403]) as callback:
        job = run_job(tmp_path, origin, oidc, callback, job_config(coder, attempts=1))
    assert len(callback.requests) == 1
    assert any("HTTP 403" in e.message for e in job.annotations("error"))


def test_a_per_child_callback_token_replaces_oidc(tmp_path, origin, oidc):
    coder = coder_argv(tmp_path, "pathlib.Path('src/hasher.py').write_text('VALUE = 2\\n')\n")
    with CallbackServer() as callback:
        run_job(tmp_path, origin, oidc, callback, job_config(coder),
                extra_inputs={"callback-token": "child-token-xyz"})
    assert callback.results[0].headers["authorization"] == "Bearer child-token-xyz"
    assert oidc.requests == []


def test_a_missing_session_branch_is_reported(tmp_path, origin, oidc):
    coder = coder_argv(tmp_path, "pass\n")
    with CallbackServer() as callback:
        job = run_job(tmp_path, origin, oidc, callback, job_config(coder),
                      extra_inputs={"branch": "ccs/no-such-branch"})
    result = parse_result(callback.results[0].json())
    assert result.status == "failed" and result.attempts == 0
    assert "could not fetch branch 'ccs/no-such-branch'" in result.message
    assert job.conclusion == "failure"


def test_a_cancelled_job_still_reports(tmp_path, origin, oidc):
    coder = coder_argv(tmp_path, "time.sleep(1000)\n")
    with CallbackServer() as callback:
        job = run_job(tmp_path, origin, oidc, callback, job_config(coder, coder_timeout=100),
                      cancel_after=2.5, cancel_grace=5)
    assert job.conclusion == "cancelled"
    assert len(callback.results) == 1, job.log
    result = parse_result(callback.results[0].json())
    assert result.status == "failed"
    assert result.message == "cancelled during attempt 1 (coder)"


def test_a_runner_killed_outright_is_reported_by_the_final_step(tmp_path, origin, oidc):
    # The coder kills the runner (its parent) with SIGKILL: nothing can trap that.
    coder = coder_argv(tmp_path, "import signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
                                 "time.sleep(5)\n")
    with CallbackServer() as callback:
        job = run_job(tmp_path, origin, oidc, callback, job_config(coder))
    assert job.conclusion == "failure"
    assert not job.step("Report a job that ended early").skipped
    result = parse_result(callback.results[0].json())
    assert result.status == "failed"
    assert result.message == "the runner step ended (failure) before it reported"


def test_verify_mode_runs_the_suite_on_the_staging_ref(tmp_path, origin, oidc):
    staging = "ccs-accounts-abc123-staging"
    seed = tmp_path / "seed"
    (seed / "src" / "hasher.py").write_text("VALUE = 2\n")
    git(seed, "commit", "-q", "-am", "merged")
    git(seed, "push", "-q", str(origin), f"HEAD:refs/heads/{staging}")
    sha = git(origin, "rev-parse", staging)
    entry = {"child": "verify-1", "component": "verify", "ref": staging}
    config = job_config(["false"], verify=[*PYTEST[:-2], "--junitxml={junit}"])
    with CallbackServer() as callback:
        job = run_job(tmp_path, origin, oidc, callback, config, mode="verify", entry=entry)
    assert job.conclusion == "success", job.log
    request = callback.results[0]
    assert request.path == "/api/v1/children/verify-1/result"
    body = request.json()
    assert parse_result(body).tests.passed == 1
    assert {k: body[k] for k in ("status", "commit", "branch", "attempts", "changed_files")} == {
        "status": "succeeded", "commit": sha, "branch": staging, "attempts": 1,
        "changed_files": []}


def test_what_the_coder_spent_travels_in_the_callback_and_the_summary(tmp_path, origin, oidc):
    coder = coder_argv(tmp_path, "pathlib.Path(os.environ['CCS_USAGE']).write_text("
                                 "'{\"cost_usd\": 0.37, \"input_tokens\": 5100, "
                                 "\"output_tokens\": 900}')\n"
                                 "pathlib.Path('src/hasher.py').write_text('VALUE = 2\\n')\n")
    with CallbackServer() as callback:
        job = run_job(tmp_path, origin, oidc, callback, job_config(coder))
    assert job.conclusion == "success", job.log
    assert callback.requests[0].json()["usage"] == {"cost_usd": 0.37, "input_tokens": 5100,
                                                    "output_tokens": 900}
    assert "Usage: $0.37, 5100 input and 900 output tokens" in job.summary
