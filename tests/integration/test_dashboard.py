"""The dashboard's pages through the test client: filters, progress and age, a strict CSP
with no inline script or style, and the links a person needs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fakes.service_runtime import REPO, ServiceStage, bearer
from tests.fakes.stage_results import report, start_running


@pytest.fixture
def stage(tmp_path: Path) -> ServiceStage:
    return ServiceStage.create(tmp_path)


def page(stage: ServiceStage, path: str) -> str:
    answer = stage.app.test_client().get(path, headers=bearer())
    assert answer.status_code == 200, answer.data
    csp = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe" not in csp
    text = answer.get_data(as_text=True)
    # Nothing inline, so the policy can forbid it: scripts and styles are files.
    assert not re.search(r"<script(?![^>]*\bsrc=)", text) and "<style" not in text
    assert " style=" not in text and " on" + "click=" not in text
    return text


def test_the_index_lists_status_progress_and_age_and_filters(stage: ServiceStage) -> None:
    running = start_running(stage)
    report(stage, "isbn")
    listed = page(stage, "/")
    assert running in listed and 'class="badge status-running"' in listed
    assert "1 of 2" in listed and re.search(r"\d+s ago", listed)
    assert '<label for="status">' in listed and '<label for="repository">' in listed
    assert running in page(stage, f"/?repository={REPO}&status=running")
    assert running not in page(stage, "/?status=complete")
    assert running not in page(stage, "/?repository=someone/else")
    assert "No sessions match" in page(stage, "/?repository=someone/else")


def test_the_session_page_links_logs_runs_and_loads_its_script(stage: ServiceStage) -> None:
    session_id = start_running(stage)
    child = stage.store.children(session_id)[0]
    stage.store.update_child(child.id, run_url="https://github.example/runs/1")
    shown = page(stage, f"/sessions/{session_id}")
    assert f'/api/v1/sessions/{session_id}/children/{child.id}/log"' in shown
    assert 'href="https://github.example/runs/1">job run' in shown
    assert f'data-events="/api/v1/sessions/{session_id}/events"' in shown
    assert 'aria-live="polite"' in shown and '<label for="bar">' in shown
    assert 'name="viewport"' in shown
    script = stage.app.test_client().get("/static/session.js")
    assert script.status_code == 200 and b"new EventSource(" in script.data
    assert b"innerHTML" not in script.data  # every value is set as text
