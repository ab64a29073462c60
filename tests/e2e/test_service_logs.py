"""Logs in service mode: a child's job log through the API, failures that name it, JSON lines.

One real `ccs serve` (CCS_LOG_FORMAT=json) and the test GitHub running ccs's action.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.callback_server import bookshop_files
from tests.fakes.github import FakeGitHub
from tests.fakes.service_process import ServiceProcess, service_env

pytestmark = pytest.mark.slow

ALWAYS_FAIL = "<!-- ccs-example: always-fail -->"
PRICING_DESIGN = "docs/design/catalog/pricing.md"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeGitHub,
                                                                      ServiceProcess]]:
    root = tmp_path_factory.mktemp("service-logs")
    home = root / "home"
    home.mkdir()
    identity = {"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_AUTHOR_NAME": "ccs", "GIT_AUTHOR_EMAIL": "ccs@example.invalid",
                "GIT_COMMITTER_NAME": "ccs", "GIT_COMMITTER_EMAIL": "ccs@example.invalid"}
    with FakeGitHub.start(root) as gh:
        settings = {**service_env(gh, root, CCS_LOG_FORMAT="json"), **identity}
        service = ServiceProcess.start(root, settings)
        gh.webhook_url = service.webhook_url
        try:
            yield gh, service
        finally:
            service.stop()


@pytest.fixture
def failed_session(world: tuple[FakeGitHub, ServiceProcess]) -> dict[str, Any]:
    """A session started by a comment whose pricing component always fails."""
    gh, service = world
    repo = f"books/shop-{uuid.uuid4().hex[:8]}"
    files = bookshop_files()
    files[PRICING_DESIGN] += f"\n{ALWAYS_FAIL}\n"
    gh.create_repository(repo, files=files)
    gh.add_user("alice", permission="write", repo=repo)
    issue = gh.create_issue(repo)
    assert gh.send_webhook("issue_comment", gh.comment_payload(
        repo, issue.number, "/ccs implement catalog")) == 202
    session = service.wait_for_session(repo)
    return service.wait_for_status(session["id"], timeout=120)


def child(session: dict[str, Any], component: str) -> dict[str, Any]:
    return next(c for c in session["children"] if c["component"] == component)


def test_a_childs_job_log_comes_through_the_api_with_secrets_masked(
        world: tuple[FakeGitHub, ServiceProcess], failed_session: dict[str, Any]) -> None:
    gh, service = world
    assert failed_session["status"] == "needs_attention", failed_session
    pricing = child(failed_session, "pricing")
    assert pricing["status"] == "failed"
    assert pricing["run_url"] and f"log: {pricing['run_url']}" in pricing["message"]

    # The job printed a token-shaped string; the API must never hand it on.
    leaked = "ghp_" + uuid.uuid4().hex + "abcd"
    (job,) = [job for run in gh.runs() for job in run.jobs
              if job.entry.get("child") == pricing["id"]]
    job.log += f"the coder printed {leaked}\n"
    downloads = gh.log_downloads

    path = f"/api/v1/sessions/{failed_session['id']}/children/{pricing['id']}/log"
    status, text = service.request("GET", path)
    assert status == 200, text
    assert "attempt 1/3: tests" in text and "attempt 3/3: tests" in text
    assert "the coder printed" in text and leaked not in text
    assert gh.log_downloads == downloads + 1
    assert gh.calls_to("GET", f"/repos/*/actions/jobs/{job.id}/logs")
    assert gh.schema_errors == []

    assert service.request("GET", path, auth=False)[0] == 401
    other = f"/api/v1/sessions/{failed_session['id']}/children/nochild/log"
    status, body = service.request("GET", other)
    assert status == 404 and "nochild" in body["error"]["message"]


def test_service_log_lines_are_json_with_the_session_and_the_delivery(
        world: tuple[FakeGitHub, ServiceProcess], failed_session: dict[str, Any]) -> None:
    gh, service = world
    delivery = next(d.delivery_id for d in reversed(gh.deliveries)
                    if d.event == "issue_comment")
    lines = [line for line in service.logs().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert records and all({"time", "level", "logger", "message", "session", "delivery"}
                           <= set(r) for r in records)
    assert any(r["delivery"] == delivery for r in records)
    assert any(r["session"] == failed_session["id"] for r in records)
    assert any(r["logger"] == "gunicorn.access" for r in records)
