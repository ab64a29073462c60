"""JUnit XML parsing in action.junit."""

from __future__ import annotations

from action.junit import parse_bytes, parse_file

PYTEST_REPORT = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="2" skipped="1" tests="7">
<testcase classname="tests.test_a" name="test_ok" time="0.1"/>
<testcase classname="tests.test_a" name="test_x" file="tests/test_a.py" line="12">
  <failure message="assert 1 == 2">trace</failure></testcase>
<testcase classname="tests.test_a" name="test_y"><failure>no message attr</failure></testcase>
<testcase classname="tests.test_a" name="test_z"><error message="fixture broke"/></testcase>
<testcase classname="tests.test_a" name="test_s"><skipped message="later"/></testcase>
</testsuite></testsuites>"""


def test_pytest_report_counts_and_failing_names() -> None:
    report = parse_bytes(PYTEST_REPORT)
    assert report is not None
    assert (report.tests, report.failures, report.errors, report.skipped) == (7, 2, 1, 1)
    assert report.passed == 3
    assert [t.name for t in report.failed_tests] == ["test_x", "test_y", "test_z"]
    first = report.failed_tests[0]
    assert (first.file, first.line, first.message, first.kind) == (
        "tests/test_a.py", 12, "assert 1 == 2", "failure")
    assert report.failed_tests[1].message == "no message attr"
    assert report.failed_tests[2].kind == "error"


def test_several_suites_are_summed() -> None:
    report = parse_bytes(b"""<testsuites tests="99">
      <testsuite tests="2" failures="1" errors="0" skipped="0"/>
      <testsuite tests="3" failures="0" errors="1" skipped="1"/></testsuites>""")
    assert report is not None
    assert (report.tests, report.failures, report.errors, report.skipped) == (5, 1, 1, 1)


def test_single_testsuite_root() -> None:
    report = parse_bytes(b'<testsuite tests="4" failures="0" errors="0" skipped="0"/>')
    assert report is not None and report.passed == 4


def test_counts_come_from_test_cases_when_attributes_are_missing() -> None:
    report = parse_bytes(b"""<testsuite><testcase name="a"/><testcase name="b">
      <failure/></testcase><testcase name="c"><skipped/></testcase></testsuite>""")
    assert report is not None
    assert (report.tests, report.failures, report.errors, report.skipped) == (3, 1, 0, 1)


def test_testsuites_root_without_suites_uses_its_own_attributes() -> None:
    report = parse_bytes(b'<testsuites tests="2" failures="1" errors="0"/>')
    assert report is not None and (report.tests, report.failures) == (2, 1)


def test_malformed_or_foreign_xml_is_none(tmp_path) -> None:
    assert parse_bytes(b"<testsuites><testsuite") is None
    assert parse_bytes(b"<html/>") is None
    assert parse_file(tmp_path / "missing.xml") is None
    broken = tmp_path / "broken.xml"
    broken.write_text("not xml")
    assert parse_file(broken) is None
