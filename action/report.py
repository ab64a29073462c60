"""Judge test runs and word results: counts, reasons, feedback for the coder."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from action.commands import CommandOutcome, tail
from action.junit import FailedTest, TestReport
from action.usage import spent_anything

FEEDBACK_OUTPUT_CHARS = 60_000
FEEDBACK_STDERR_CHARS = 8_000
NAMES_IN_MESSAGE = 5


@dataclass(frozen=True)
class TestOutcome:
    """One run of the test command, judged."""

    command: CommandOutcome
    report: TestReport | None
    passed: int
    failed: int
    errors: int
    skipped: int
    failed_tests: tuple[FailedTest, ...] = ()

    @property
    def ok(self) -> bool:
        """Return True when the command exited 0, ≥1 test ran and none failed or errored."""
        ran = self.passed + self.failed + self.errors
        return self.command.ok and ran >= 1 and not self.failed and not self.errors

    def counts(self) -> dict[str, int]:
        """Return the wire-format test counts."""
        return {"passed": self.passed, "failed": self.failed,
                "errors": self.errors, "skipped": self.skipped}


def judge_tests(command: CommandOutcome, report: TestReport | None) -> TestOutcome:
    """Count from the JUnit report, or from the exit code (1 passed or 1 failed) without one."""
    if report is None:
        passed = 1 if command.ok else 0
        return TestOutcome(command, None, passed, 1 - passed, 0, 0)
    return TestOutcome(command, report, report.passed, report.failures, report.errors,
                       report.skipped, report.failed_tests)


@dataclass(frozen=True)
class Attempt:
    """One coder → tests round."""

    number: int
    coder: CommandOutcome | None
    tests: TestOutcome


@dataclass
class RunResult:
    """What a run ends with: the wire-format result plus detail for summaries."""

    status: str
    commit: str | None
    branch: str | None
    attempts: int
    tests: dict[str, int]
    changed_files: list[str]
    message: str
    component: str = ""
    failed_tests: tuple[FailedTest, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, float | int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the DESIGN §6 result body (`usage` only when anything was spent)."""
        body = {"status": self.status, "commit": self.commit, "branch": self.branch,
                "attempts": self.attempts, "tests": dict(self.tests),
                "changed_files": list(self.changed_files), "message": self.message}
        if spent_anything(self.usage):
            body["usage"] = dict(self.usage)
        return {**body, **self.extra}


def empty_counts() -> dict[str, int]:
    """Return all-zero test counts."""
    return {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}


def first_line(text: str, limit: int = 200) -> str:
    """Return the last non-empty line of `text`, shortened (the line that names the error)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:limit] if lines else ""


def describe_command(name: str, outcome: CommandOutcome, timeout: float) -> str:
    """Return e.g. 'coder timed out after 30 s' or 'setup exited with code 1 (ImportError: x)'."""
    reason = f"{name} {outcome.describe(timeout)}"
    last = first_line(outcome.stderr) if not outcome.timed_out else ""
    return f"{reason} ({last})" if last and outcome.exit_code else reason


def describe_tests(tests: TestOutcome, timeout: float) -> str:
    """Return why tests did not pass, e.g. '2 failed (test_x, test_y)'."""
    if tests.command.timed_out:
        return f"the test command timed out after {timeout:g} s"
    if tests.command.error:
        return tests.command.error
    names = [t.name for t in tests.failed_tests[:NAMES_IN_MESSAGE]]
    more = len(tests.failed_tests) - len(names)
    listed = f" ({', '.join(names)}{f', +{more} more' if more > 0 else ''})" if names else ""
    if tests.failed or tests.errors:
        parts = [f"{n} {label}" for n, label in ((tests.failed, "failed"),
                                                 (tests.errors, "errors")) if n]
        return ", ".join(parts) + listed
    if tests.report is None:
        return f"test command {tests.command.describe(timeout)} (no JUnit report)"
    if tests.passed == 0:
        return "no tests ran"
    return f"test command {tests.command.describe(timeout)} ({tests.passed} passed)"


def summarize(tests: TestOutcome) -> str:
    """Return e.g. '5 passed, 1 skipped'."""
    counts = tests.counts()
    parts = [f"{counts['passed']} passed"]
    parts += [f"{counts[key]} {key}" for key in ("failed", "errors", "skipped") if counts[key]]
    return ", ".join(parts)


def success_message(last: Attempt, attempts: int, coder_timeout: float) -> str:
    """Return e.g. 'tests passed on attempt 2 of 3: 5 passed'."""
    of = f" of {attempts}" if attempts > 1 else ""
    message = f"tests passed on attempt {last.number}{of}: {summarize(last.tests)}"
    if last.coder is not None and not last.coder.ok:
        message += f" (though the {describe_command('coder', last.coder, coder_timeout)})"
    return message


def failure_message(last: Attempt, coder_timeout: float, test_timeout: float) -> str:
    """Return e.g. 'coder exited with code 3 on attempt 2; tests failed after 2 attempts: …'."""
    plural = "s" if last.number != 1 else ""
    message = (f"tests failed after {last.number} attempt{plural}: "
               f"{describe_tests(last.tests, test_timeout)}")
    if last.coder is not None and not last.coder.ok:
        coder = describe_command("coder", last.coder, coder_timeout)
        message = f"{coder} on attempt {last.number}; {message}"
    return message


def feedback_text(entry_label: str, attempt: Attempt, coder_timeout: float,
                  test_timeout: float) -> str:
    """Return what the coder reads on the next attempt: why the last one failed."""
    tests = attempt.tests
    lines = [f"ccs feedback for {entry_label} after attempt {attempt.number}",
             f"Tests: {describe_tests(tests, test_timeout)}",
             "Counts: " + ", ".join(f"{k} {v}" for k, v in tests.counts().items())]
    for failed in tests.failed_tests:
        where = f" [{failed.file}:{failed.line}]" if failed.file else ""
        lines.append(f"- {failed.kind}: {failed.classname}::{failed.name}{where}: "
                     f"{failed.message[:300]}")
    output = tests.command.stdout + (("\n" + tests.command.stderr) if tests.command.stderr
                                     else "")
    lines += ["", "--- test output (tail) ---", tail(output, FEEDBACK_OUTPUT_CHARS)]
    if attempt.coder is not None:
        lines += ["", f"--- coder: {describe_command('coder', attempt.coder, coder_timeout)}; "
                  "stderr (tail) ---", tail(attempt.coder.stderr, FEEDBACK_STDERR_CHARS)]
    return "\n".join(lines) + "\n"


def with_reason(result: RunResult, reason: str) -> RunResult:
    """Return `result` marked failed with `reason` in front of its message."""
    message = f"{reason}; {result.message}" if result.message else reason
    return replace(result, status="failed", message=message)
