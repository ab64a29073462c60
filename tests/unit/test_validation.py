"""Validation rules: each one, its message, and what the component may change."""

from __future__ import annotations

from dataclasses import replace

import pytest

from service.domain.manifest import Component
from service.domain.validation import ChildFacts, Finding, attention_message, validate_child
from service.domain.wire import TestCounts as Counts

ISBN = Component(context="catalog", name="isbn", priority=0,
                 design="docs/design/catalog/isbn.md", implementation="src/catalog/isbn.py",
                 test="tests/catalog/test_isbn.py", allow=("src/catalog/__init__.py",))
COMMIT = "0123456789abcdef0123456789abcdef01234567"
GOOD = ChildFacts(
    component=ISBN, reported_status="succeeded", reported_message="", commit=COMMIT,
    commit_on_branch=True,
    file_sizes={ISBN.implementation: 120, ISBN.test: 80},
    tests=Counts(passed=5), changed_files=(ISBN.implementation, ISBN.test),
)


def rules(facts: ChildFacts) -> list[str]:
    return [f.rule for f in validate_child(facts)]


def only_message(facts: ChildFacts) -> str:
    findings = validate_child(facts)
    assert len(findings) == 1, findings
    assert findings[0].component == "isbn"
    return findings[0].message


def test_good_work_has_no_findings() -> None:
    assert validate_child(GOOD) == []


def test_a_job_that_did_not_succeed_is_reported_with_its_own_reason() -> None:
    message = only_message(replace(GOOD, reported_status="failed",
                                   reported_message="tests failed after 3 attempts"))
    assert message == ("isbn: tests failed after 3 attempts. Fix the design doc or coder, "
                       "then retry.")


def test_a_failed_job_without_a_reason_gets_a_default_one() -> None:
    assert "isbn: the job reported failure." in only_message(
        replace(GOOD, reported_status="failed"))


@pytest.mark.parametrize("facts", [
    replace(GOOD, commit=None),
    replace(GOOD, commit_on_branch=False),
])
def test_a_commit_that_is_not_on_the_child_branch(facts: ChildFacts) -> None:
    assert only_message(facts) == ("isbn: its result names a commit that is not on its child "
                                   "branch; retry to run it again.")


def test_a_missing_file() -> None:
    facts = replace(GOOD, file_sizes={ISBN.implementation: None, ISBN.test: 10})
    assert only_message(facts) == ("isbn: implementation file src/catalog/isbn.py does not "
                                   "exist at 0123456789ab; the coder must write it.")


def test_a_file_absent_from_the_facts_counts_as_missing() -> None:
    assert "test file tests/catalog/test_isbn.py does not exist" in only_message(
        replace(GOOD, file_sizes={ISBN.implementation: 10}))


def test_an_empty_file() -> None:
    facts = replace(GOOD, file_sizes={ISBN.implementation: 10, ISBN.test: 0})
    assert only_message(facts) == ("isbn: test file tests/catalog/test_isbn.py is empty at "
                                   "0123456789ab; the coder must write it.")


@pytest.mark.parametrize("tests", [Counts(), Counts(skipped=4)])
def test_no_tests_ran(tests: Counts) -> None:
    assert only_message(replace(GOOD, tests=tests)) == (
        "isbn: no tests ran; check the test command and that tests/catalog/test_isbn.py "
        "holds tests.")


@pytest.mark.parametrize(("tests", "summary"), [
    (Counts(passed=4, failed=1), "4 passed, 1 failed"),
    (Counts(passed=4, errors=2), "4 passed, 2 errors"),
    (Counts(passed=1, failed=1, errors=1, skipped=1), "1 passed, 1 failed, 1 errors, "
                                                          "1 skipped"),
])
def test_failures_or_errors(tests: Counts, summary: str) -> None:
    assert only_message(replace(GOOD, tests=tests)) == f"isbn: tests did not pass ({summary})."


def test_scope_guard_lists_the_files_outside_the_component() -> None:
    facts = replace(GOOD, changed_files=(ISBN.implementation, "src/catalog/money.py",
                                         "README.md"))
    assert only_message(facts) == (
        "isbn: changed files outside its own: README.md, src/catalog/money.py. Add them to "
        "the component's 'allow' list or keep the coder to its files.")


def test_scope_guard_shortens_a_long_list() -> None:
    outside = tuple(f"other/{n:02}.py" for n in range(13))
    message = only_message(replace(GOOD, changed_files=outside))
    assert "other/09.py and 3 more." in message and "other/10.py" not in message


def test_scope_guard_honours_allow_and_the_design_doc() -> None:
    facts = replace(GOOD, changed_files=(ISBN.design, ISBN.implementation, ISBN.test,
                                         "src/catalog/__init__.py"))
    assert validate_child(facts) == []


def test_a_deleted_file_outside_the_component_is_a_change_too() -> None:
    # Git reports a deletion as a changed path, so the guard catches it the same way.
    assert rules(replace(GOOD, changed_files=("src/catalog/money.py",))) == ["scope"]


def test_several_rules_are_all_reported_in_order() -> None:
    facts = replace(GOOD, file_sizes={ISBN.implementation: 0, ISBN.test: None},
                    tests=Counts(), changed_files=("setup.py",))
    assert rules(facts) == ["files", "files", "tests", "scope"]


def test_attention_message_names_each_component_and_what_to_do() -> None:
    findings = [Finding("pricing", "tests", "pricing: tests did not pass (1 passed, 1 failed)."),
                Finding("isbn", "scope", "isbn: changed files outside its own: x."),
                Finding("pricing", "files", "pricing: test file t.py is empty.")]
    assert attention_message("catalog", findings, "Then run `ccs retry abc`.") == (
        "2 component(s) of catalog need attention:\n"
        "- pricing: tests did not pass (1 passed, 1 failed).\n"
        "- isbn: changed files outside its own: x.\n"
        "- pricing: test file t.py is empty.\n"
        "Then run `ccs retry abc`.")


def test_a_symlink_among_its_files_is_a_finding_naming_it() -> None:
    message = only_message(replace(GOOD, symlinks=(ISBN.implementation,)))
    assert message.startswith("isbn: src/catalog/isbn.py is a symbolic link at 0123456789ab")
    assert rules(replace(GOOD, symlinks=("src", "src/catalog/x.py"))) == ["symlink"]
