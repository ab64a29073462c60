"""Read a JUnit XML report: test counts and the names of failing tests."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

MAX_REPORT_BYTES = 64 * 1024 * 1024
MAX_FAILURES_KEPT = 200


@dataclass(frozen=True)
class FailedTest:
    """One test that failed or errored, with where and why when the report says."""

    name: str
    classname: str = ""
    kind: str = "failure"
    message: str = ""
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class TestReport:
    """Summed counts of one JUnit report and its failing tests."""

    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    failed_tests: tuple[FailedTest, ...] = field(default=())

    @property
    def passed(self) -> int:
        """Return how many tests passed."""
        return max(0, self.tests - self.failures - self.errors - self.skipped)


def parse_file(path: Path) -> TestReport | None:
    """Return the report in `path`, or None when it is missing, too big or not JUnit XML."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_REPORT_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    return parse_bytes(data)


def parse_bytes(data: bytes) -> TestReport | None:
    """Return the report in `data`, or None when it is not JUnit XML."""
    try:
        # The report comes from the job's own test command; expat (Python >= 3.11)
        # caps entity expansion, so a hostile report cannot blow up memory.
        root = ElementTree.fromstring(data)  # noqa: S314
    except ElementTree.ParseError:
        return None
    if root.tag == "testsuite":
        suites = [root]
    elif root.tag == "testsuites":
        suites = root.findall("testsuite") or [root]
    else:
        return None
    totals = [sum(_count(suite, key) for suite in suites)
              for key in ("tests", "failures", "errors", "skipped")]
    return TestReport(*totals, failed_tests=tuple(_failed_tests(root)))


def _count(suite: ElementTree.Element, key: str) -> int:
    """Return the suite's `key` attribute, or count its test cases when it has none."""
    value = suite.get(key)
    if value is not None:
        try:
            return max(0, int(float(value)))
        except ValueError:
            pass
    cases = suite.iter("testcase")
    if key == "tests":
        return sum(1 for _ in cases)
    child = {"failures": "failure", "errors": "error", "skipped": "skipped"}[key]
    return sum(1 for case in cases if case.find(child) is not None)


def _failed_tests(root: ElementTree.Element) -> list[FailedTest]:
    failed: list[FailedTest] = []
    for case in root.iter("testcase"):
        for kind in ("failure", "error"):
            problem = case.find(kind)
            if problem is None:
                continue
            line = case.get("line")
            failed.append(FailedTest(
                name=case.get("name", "?"),
                classname=case.get("classname", ""),
                kind=kind,
                message=(problem.get("message") or (problem.text or "")).strip()[:1000],
                file=case.get("file"),
                line=int(line) if line and line.isdigit() else None,
            ))
            break
        if len(failed) >= MAX_FAILURES_KEPT:
            break
    return failed
