"""Service mode: a failing verify on the merged tree holds the branch and pull request back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.domain.commands import StartSession
from tests.fakes.callback_server import REPO, TOKEN, CallbackServer, bookshop_files, service_bus
from tests.fakes.github import FakeGitHub

# Each component's own tests pass; only the whole suite on the merged tree sees this one.
FAILING_SUITE_TEST = '''
def test_the_whole_catalog_is_released():
    assert False, "the catalog is not released yet"
'''


@pytest.fixture
def results() -> Iterator[CallbackServer]:
    server = CallbackServer()
    yield server
    server.stop()


def test_failing_verify_holds_the_pull_request_back(tmp_path: Path,
                                                    results: CallbackServer) -> None:
    callback = results
    with FakeGitHub.start(tmp_path) as gh:
        files = bookshop_files()
        files["tests/test_release.py"] = FAILING_SUITE_TEST
        gh.create_repository(REPO, files=files)
        gh.add_token(TOKEN)
        issue = gh.create_issue(REPO, title="Implement the catalog")
        base_sha = gh.branch_sha(REPO, "main")
        store, bus = service_bus(tmp_path, gh, callback)

        session = bus.handle(StartSession(repository=REPO, context="catalog", base="main",
                                          issue=issue.number, source="comment"))
        gh.wait_for(lambda: store.session(session.id).status in (
            "complete", "needs_attention", "failed"), timeout=120)
        session = store.session(session.id)

        assert session.status == "needs_attention"
        assert "verify failed on the merged tree" in session.message
        assert "test_the_whole_catalog_is_released" in session.message
        assert [c.status for c in store.children(session.id)] == ["succeeded"] * 4
        # The merged tree went to the staging branch only; the session branch never moved.
        assert gh.branch_sha(REPO, f"ccs-staging/{session.id}") == session.merged_commit
        assert gh.branch_sha(REPO, session.branch) == base_sha
        assert gh.pull_requests(REPO) == []
        # The session rests a moment before the reporter's last edit lands.
        gh.wait_for(lambda: "verify failed" in gh.comments(REPO, issue.number)[0].body)
        (comment,) = gh.comments(REPO, issue.number)
        assert "verify failed" in comment.body and "/ccs retry" in comment.body
        assert gh.schema_errors == []
