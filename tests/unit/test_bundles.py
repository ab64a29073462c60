"""A child's commit as a git bundle: the header read and judged (DESIGN §6a), and its bound
in the result."""

from __future__ import annotations

import base64

import pytest

from action import spec as action_spec
from service.domain import bundles
from service.domain.bundles import BadBundle, BundleHeader, header_problem, read_header
from service.domain.wire import InvalidResult, parse_result

START, TIP, OTHER = "a" * 40, "b" * 40, "c" * 40
RESULT = {"status": "succeeded", "commit": TIP, "branch": "ccs-child/s/x", "attempts": 1}


def header(*lines: str, version: int = 2) -> bytes:
    return (f"# v{version} git bundle\n" + "".join(f"{line}\n" for line in lines)
            + "\n").encode() + b"PACK..."


def test_the_header_names_the_refs_and_the_commits_the_bundle_assumes():
    data = header(f"-{START} base", f"{TIP} refs/heads/ccs-x")
    assert read_header(data) == BundleHeader(((TIP, "refs/heads/ccs-x"),), (START,))


def test_a_v3_header_skips_its_capabilities():
    data = header("@object-format=sha1", f"{TIP} refs/heads/ccs-x", version=3)
    assert read_header(data).refs == ((TIP, "refs/heads/ccs-x"),)


@pytest.mark.parametrize("data", [b"PK\x03\x04zip", b"# v2 git bundle\nno end",
                                  header("not-a-sha refs/heads/x")])
def test_what_is_no_bundle_is_refused_with_a_reason(data):
    with pytest.raises(BadBundle):
        read_header(data)


@pytest.mark.parametrize(("parsed", "reason"), [
    (BundleHeader(((TIP, "refs/heads/a"), (OTHER, "refs/heads/b")), (START,)), "2 refs"),
    (BundleHeader(((OTHER, "refs/heads/a"),), (START,)), "not at the result's commit"),
    (BundleHeader(((TIP, "refs/heads/a"),), (OTHER,)), "not on the session head"),
    (BundleHeader(((TIP, "--upload-pack=evil"),), (START,)), "expected refs/heads/"),
    (BundleHeader(((TIP, "refs/heads/../../x"),), (START,)), "expected refs/heads/"),
])
def test_a_bundle_is_the_childs_commit_on_the_session_head_or_refused(parsed, reason):
    assert reason in header_problem(parsed, TIP, START)


def test_a_bundle_on_the_session_head_with_the_results_commit_passes():
    assert header_problem(BundleHeader(((TIP, "refs/heads/ccs-x"),), (START,)), TIP,
                          START) is None
    assert header_problem(BundleHeader(((TIP, "refs/heads/ccs-x"),), ()), TIP, START) is None


def test_the_result_carries_the_bundle_as_bytes_and_back_as_base64():
    result = parse_result({**RESULT, "bundle": base64.b64encode(b"bytes").decode()})
    assert result.bundle == b"bytes"
    assert parse_result(result.to_json()).bundle == b"bytes"
    assert "bundle" not in parse_result(RESULT).to_json()


@pytest.mark.parametrize(("bundle", "says"), [
    ("x" * (bundles.MAX_BUNDLE_CHARS + 4), "8 MiB"), ("not base64!", "not valid base64"),
    (12, "base64 string")])
def test_a_bundle_too_big_or_malformed_is_bad_input(bundle, says):
    with pytest.raises(InvalidResult, match=says):
        parse_result({**RESULT, "bundle": bundle})


def test_the_action_and_the_service_agree_on_the_bundle_limit():
    assert action_spec.MAX_BUNDLE_CHARS == bundles.MAX_BUNDLE_CHARS == 8 * 1024 * 1024
