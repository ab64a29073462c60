"""A whole service-mode session in-process: the test GitHub runs the real action as its jobs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.domain.commands import StartSession
from tests.fakes.callback_server import REPO, TOKEN, CallbackServer, bookshop_files, service_bus
from tests.fakes.github import FakeGitHub


@pytest.fixture
def callback() -> Iterator[CallbackServer]:
    server = CallbackServer()
    yield server
    server.stop()


def test_bookshop_session_runs_on_actions_and_opens_a_pull_request(
        tmp_path: Path, callback: CallbackServer) -> None:
    with FakeGitHub.start(tmp_path) as gh:
        gh.create_repository(REPO, files=bookshop_files())
        gh.add_token(TOKEN)
        issue = gh.create_issue(REPO, title="Implement the catalog")
        store, bus = service_bus(tmp_path, gh, callback)

        session = bus.handle(StartSession(repository=REPO, context="catalog", base="main",
                                          issue=issue.number, source="comment"))
        done = gh.wait_for(lambda: store.session(session.id).status in (
            "complete", "needs_attention", "failed"), timeout=120)
        session = store.session(session.id)

        assert done and session.status == "complete", session.message
        runs = gh.runs(REPO)
        assert [run.inputs["mode"] for run in runs] == ["component", "verify"]
        verify_entry = json.loads(runs[1].inputs["matrix"])["include"]
        assert verify_entry[0]["ref"] == f"ccs-staging/{session.id}"
        assert gh.branch_sha(REPO, session.branch) == session.final_commit
        for component in ("isbn", "money", "inventory", "pricing"):
            assert gh.read_file(REPO, session.branch, f"src/catalog/{component}.py")

        (pull,) = gh.pull_requests(REPO)
        assert pull.draft and pull.head == session.branch and pull.base == "main"
        assert "| component | attempts | tests |" in pull.body and "| pricing |" in pull.body
        assert session.pull_request_url.endswith(f"/pull/{pull.number}")

        # The session rests a moment before the reporter's last edit lands.
        gh.wait_for(lambda: "Pull request:" in gh.comments(REPO, issue.number)[0].body)
        (comment,) = gh.comments(REPO, issue.number)
        assert comment.body.startswith(f"<!-- ccs:session:{session.id} -->")
        assert "**4 of 4 done**" in comment.body
        assert f"Pull request: {session.pull_request_url}" in comment.body
        assert len(gh.calls_to("POST", f"/repos/{REPO}/issues/{issue.number}/comments")) == 1
        assert len(callback.received) == 5
        assert gh.schema_errors == []
