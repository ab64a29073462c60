"""The child result wire format (DESIGN §6): what parse_result accepts and refuses."""

from __future__ import annotations

import pytest

from service.domain.wire import (
    MAX_MESSAGE_CHARS,
    ChildResult,
    CommandSpec,
    ComponentEntry,
    InvalidResult,
    JobConfig,
    VerifyEntry,
    parse_result,
)
from service.domain.wire import (
    TestCounts as Counts,
)

SHA = "0123456789abcdef0123456789abcdef01234567"
FULL = {"status": "succeeded", "commit": SHA, "branch": "ccs-child/0123abcdef/isbn",
        "attempts": 2, "tests": {"passed": 5, "failed": 0, "errors": 0, "skipped": 1},
        "changed_files": ["src/catalog/isbn.py"], "message": "ok",
        "log_url": "https://example.invalid/log", "run_id": 123, "job_id": 456}


def test_the_documented_example_parses_and_round_trips() -> None:
    result = parse_result(FULL)
    assert result == ChildResult(
        status="succeeded", commit=SHA, branch="ccs-child/0123abcdef/isbn", attempts=2,
        tests=Counts(5, 0, 0, 1), changed_files=("src/catalog/isbn.py",), message="ok",
        log_url="https://example.invalid/log", run_id=123, job_id=456)
    assert result.succeeded and result.tests.ran == 5
    assert result.to_json() == FULL
    assert parse_result(result.to_json()) == result


def test_the_smallest_failed_result() -> None:
    result = parse_result({"status": "failed"})
    assert result == ChildResult(status="failed", commit=None, branch=None, attempts=0,
                                 tests=Counts())
    assert not result.succeeded
    # commit and branch stay in the JSON as null; other optional fields are left out.
    assert result.to_json() == {"status": "failed", "commit": None, "branch": None,
                                "attempts": 0, "tests": {"passed": 0, "failed": 0,
                                                         "errors": 0, "skipped": 0},
                                "changed_files": [], "message": ""}


def test_commit_is_normalised_to_lowercase_and_message_truncated() -> None:
    result = parse_result({"status": "failed", "commit": SHA.upper(),
                           "message": "x" * (MAX_MESSAGE_CHARS + 10)})
    assert result.commit == SHA
    assert len(result.message) == MAX_MESSAGE_CHARS


def test_null_optionals_mean_absent() -> None:
    result = parse_result({"status": "succeeded", "tests": None, "changed_files": None,
                           "message": None, "log_url": None, "run_id": None, "attempts": None})
    assert result.tests == Counts() and result.changed_files == ()
    assert result.run_id is None and result.attempts == 0


@pytest.mark.parametrize(("body", "complaint"), [
    (None, "must be a JSON object"),
    ([], "must be a JSON object"),
    ("succeeded", "must be a JSON object"),
    ({}, "'status' must be one of succeeded, failed"),
    ({"status": "success"}, "'status'"),
    ({"status": "SUCCEEDED"}, "'status'"),
    ({"status": "failed", "tests": [1]}, "'tests' must be an object"),
    ({"status": "failed", "tests": {"passed": -1}}, "'passed' must be a non-negative integer"),
    ({"status": "failed", "tests": {"failed": "2"}}, "'failed'"),
    ({"status": "failed", "tests": {"errors": 1.5}}, "'errors'"),
    ({"status": "failed", "tests": {"skipped": True}}, "'skipped'"),
    ({"status": "failed", "attempts": -2}, "'attempts'"),
    ({"status": "failed", "attempts": "3"}, "'attempts'"),
    ({"status": "failed", "run_id": "12"}, "'run_id'"),
    ({"status": "failed", "job_id": False}, "'job_id'"),
    ({"status": "failed", "changed_files": "src/a.py"}, "'changed_files' must be a list"),
    ({"status": "failed", "changed_files": ["a", 3]}, "'changed_files' must be a list"),
    ({"status": "failed", "changed_files": ["a"] * 10_001}, "more than 10000 changed files"),
    ({"status": "failed", "commit": "not-a-sha"}, "'commit' must be a hex commit sha"),
    ({"status": "failed", "commit": "a" * 65}, "'commit' must be a string of at most 64"),
    ({"status": "failed", "commit": 1234}, "'commit'"),
    ({"status": "failed", "branch": ["x"]}, "'branch'"),
    ({"status": "failed", "branch": "b" * 256}, "'branch' must be a string of at most 255"),
    ({"status": "failed", "log_url": "u" * 2001}, "'log_url'"),
    ({"status": "failed", "message": {"text": "hi"}}, "'message' must be a string"),
])
def test_rejected_bodies_say_what_is_wrong(body, complaint: str) -> None:
    with pytest.raises(InvalidResult, match=complaint.replace("(", r"\(")):
        parse_result(body)


def test_test_counts_summary() -> None:
    assert Counts().summary() == "0 passed"
    assert Counts(3, 1, 0, 2).summary() == "3 passed, 1 failed, 2 skipped"
    assert Counts(3, 0, 0, 2).ran == 3


def test_dispatch_payloads_match_the_wire_format() -> None:
    spec = CommandSpec(("python", "coder.py"), 60)
    config = JobConfig(setup=None, coder=spec, test=spec, verify=None, attempts=3)
    assert config.to_json() == {"setup": None, "coder": {"command": ["python", "coder.py"],
                                                         "timeout": 60},
                                "test": {"command": ["python", "coder.py"], "timeout": 60},
                                "verify": None, "attempts": 3}
    entry = ComponentEntry(child="c1", component="isbn", context="catalog",
                           child_branch="ccs-child/0123abcdef/isbn", design="d.md",
                           implementation="i.py", test="t.py", allow=("x.py",))
    assert entry.to_json() == {"child": "c1", "component": "isbn", "context": "catalog",
                               "child_branch": "ccs-child/0123abcdef/isbn", "design": "d.md",
                               "implementation": "i.py", "test": "t.py", "allow": ["x.py"]}
    assert VerifyEntry(child="v1", ref="ccs-staging/0123abcdef").to_json() == {
        "child": "v1", "component": "verify", "ref": "ccs-staging/0123abcdef"}
