"""`ccs logs` as a user reads it: per session, per component, per attempt."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.cli import body_of, ccs, children, coder_repo
from tests.fakes.local import git

pytestmark = pytest.mark.slow

# Passes on attempt 2: the test checks VALUE == 2 and the coder writes the attempt number.
SECOND_TIME_LUCKY = '''import os, pathlib
name, attempt = os.environ["CCS_COMPONENT"], int(os.environ["CCS_ATTEMPT"])
print(f"coder says: {name} attempt {attempt}")
impl = pathlib.Path(os.environ["CCS_IMPLEMENTATION"])
impl.parent.mkdir(parents=True, exist_ok=True)
impl.write_text(f"VALUE = {attempt if name != 'broken' else 0}\\n")
test = pathlib.Path(os.environ["CCS_TEST"])
test.parent.mkdir(parents=True, exist_ok=True)
test.write_text(f"import sys\\nsys.path.insert(0, 'src/shop')\\nfrom {impl.stem} import VALUE\\n"
                "def test_value():\\n    print('the value is', VALUE)\\n    assert VALUE == 2\\n")
'''


def with_attempts(repo: Path, attempts: int, coder: str | None = None) -> Path:
    manifest = repo / ".github" / "ccs.yml"
    text = manifest.read_text().replace("attempts: 1", f"attempts: {attempts}")
    if coder is not None:
        text = text.replace("[python, tools/coder.py]", coder)
    manifest.write_text(text)
    git(repo, "commit", "--quiet", "-am", "manifest")
    return repo


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return with_attempts(coder_repo(tmp_path / "shop", SECOND_TIME_LUCKY,
                                    {"alpha": 1, "broken": 0}), 2)


def test_each_attempt_keeps_its_prompt_coder_output_and_test_output(shop: Path) -> None:
    run = ccs(shop, "run", "shop", "--json")
    assert run.returncode == 1, run.stderr
    body = body_of(run)
    session = body["session"]

    shown = ccs(shop, "logs", session, "alpha")
    assert shown.returncode == 0, shown.stderr
    first, second = shown.stdout.split("--- alpha: attempt 2 ---")
    assert "--- alpha: attempt 1 ---" in first
    assert "Component `alpha` of `shop`" in first and "This is attempt 1 of 2." in first
    assert "coder says: alpha attempt 1" in first
    assert "the value is 1" in first and "1 failed" in first
    assert "This is attempt 2 of 2." in second and "coder says: alpha attempt 2" in second
    assert "1 passed" in second

    only = ccs(shop, "logs", session, "alpha", "--attempt", "2")
    assert only.returncode == 0, only.stderr
    assert "attempt 1 ---" not in only.stdout and "coder says: alpha attempt 2" in only.stdout

    everything = ccs(shop, "logs", session)
    assert "=== alpha" in everything.stdout and "=== broken" in everything.stdout


def test_a_failure_message_names_its_log_and_a_second_session_keeps_the_first(
        shop: Path) -> None:
    first = body_of(ccs(shop, "run", "shop", "--json"))
    broken = children(first)["broken"]
    assert broken["status"] == "failed"
    folder = shop / ".git" / "ccs" / "logs" / first["session"] / "broken"
    assert f"log: {folder}" in broken["message"]
    assert f"`ccs logs {first['session']} broken`" in broken["message"]
    assert sorted(p.name for p in folder.iterdir()) == ["attempt-1", "attempt-2", "runner.log"]
    assert sorted(p.name for p in (folder / "attempt-2").iterdir()) == [
        "coder.log", "prompt.md", "tests.log"]

    second = body_of(ccs(shop, "run", "shop", "--json"))
    assert second["session"] != first["session"]
    for session in (first["session"], second["session"]):
        shown = ccs(shop, "logs", session, "broken", "--attempt", "1")
        assert shown.returncode == 0 and "the value is 0" in shown.stdout


def test_a_retry_counts_its_attempts_on_after_the_first_round(shop: Path) -> None:
    session = body_of(ccs(shop, "run", "shop", "--json"))["session"]
    ccs(shop, "retry", session, "--json")
    folder = shop / ".git" / "ccs" / "logs" / session / "broken"
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == [
        "attempt-1", "attempt-2", "attempt-3", "attempt-4"]
    shown = ccs(shop, "logs", session, "broken", "--attempt", "3")
    assert "This is attempt 1 of 2." in shown.stdout


def test_unknown_sessions_components_and_attempts_are_refused_with_a_hint(shop: Path) -> None:
    session = body_of(ccs(shop, "run", "shop", "--json"))["session"]

    typo = session[:-1] + ("0" if session[-1] != "0" else "1")
    unknown = ccs(shop, "logs", typo)
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert f"no session {typo!r}" in unknown.stderr
    assert f"did you mean {session!r}?" in unknown.stderr

    component = ccs(shop, "logs", session, "alpah")
    assert component.returncode == 2
    assert "has no component 'alpah'; did you mean 'alpha'?" in component.stderr
    assert "it has: alpha, broken" in component.stderr

    attempt = ccs(shop, "logs", session, "alpha", "--attempt", "7")
    assert attempt.returncode == 2
    assert "has no attempt 7; kept attempts: 1, 2" in attempt.stderr

    nonsense = ccs(shop, "logs", session, "alpha", "--attempt", "0")
    assert nonsense.returncode == 2 and "is not a number from 1" in nonsense.stderr


def test_a_coder_program_that_does_not_exist_fails_and_its_log_says_why(
        tmp_path: Path) -> None:
    repo = with_attempts(coder_repo(tmp_path / "shop", SECOND_TIME_LUCKY, {"alpha": 0}), 3,
                         coder="[no-such-coder-for-ccs, --go]")
    run = ccs(repo, "run", "shop", "--json")
    assert run.returncode == 1, run.stderr
    alpha = children(body_of(run))["alpha"]
    assert alpha["status"] == "failed" and alpha["attempts"] == 1
    assert "program 'no-such-coder-for-ccs' was not found on PATH" in alpha["message"]
    assert "ccs logs" in alpha["message"]
    assert alpha["tests"]["passed"] == 0  # no tests ran on the untouched checkout

    shown = ccs(repo, "logs", body_of(run)["session"], "alpha")
    assert "coder could not start: program 'no-such-coder-for-ccs'" in shown.stdout
