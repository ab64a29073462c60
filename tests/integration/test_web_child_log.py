"""GET /api/v1/sessions/<id>/children/<child_id>/log: a job's log, or a local run's."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.adapters.git_repo import GitRepository
from service.bootstrap import ccs_dir
from tests.fakes.service_runtime import API_TOKEN, REPO, ServiceStage, bearer


@pytest.fixture
def stage(tmp_path: Path) -> ServiceStage:
    return ServiceStage.create(tmp_path)


def start(stage: ServiceStage) -> dict:
    answer = stage.app.test_client().post(
        "/api/v1/sessions", json={"repository": REPO, "context": "catalog"}, headers=bearer())
    assert answer.status_code == 201, answer.json
    return stage.app.test_client().get(f"/api/v1/sessions/{answer.json['id']}",
                                       headers=bearer()).json


def log_path(session: dict, component: str) -> str:
    child = next(c for c in session["children"] if c["component"] == component)
    return f"/api/v1/sessions/{session['id']}/children/{child['id']}/log"


def test_the_job_of_the_childs_run_is_found_and_its_log_masked(stage: ServiceStage) -> None:
    session = start(stage)
    isbn = next(c for c in session["children"] if c["component"] == "isbn")
    client = stage.app.test_client()
    waiting = client.get(log_path(session, "isbn"), headers=bearer())
    assert waiting.status_code == 404 and "no job has run yet" in waiting.json["error"]["message"]

    stage.store.update_child(isbn["id"], run_id=77)
    stage.github.jobs[77] = [{"id": 1, "name": "child (money, other)"},
                             {"id": 2, "name": f"child ({isbn['id']}, isbn, catalog)"}]
    stage.github.job_logs[2] = f"ran the tests\nthe token was {API_TOKEN}\n"
    answer = client.get(log_path(session, "isbn"), headers=bearer())
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    assert "ran the tests" in answer.text and API_TOKEN not in answer.text

    stage.store.update_child(isbn["id"], job_id=3)  # a job GitHub keeps no log of
    gone = client.get(log_path(session, "isbn"), headers=bearer())
    assert gone.status_code == 404 and "no log for job 3" in gone.json["error"]["message"]
    assert client.get(log_path(session, "isbn")).status_code == 401


def test_a_child_of_another_session_is_404(stage: ServiceStage) -> None:
    first, second = start(stage), start(stage)
    child = second["children"][0]["id"]
    answer = stage.app.test_client().get(
        f"/api/v1/sessions/{first['id']}/children/{child}/log", headers=bearer())
    assert answer.status_code == 404 and child in answer.json["error"]["message"]


def test_a_local_session_answers_with_what_its_log_folder_holds(stage: ServiceStage) -> None:
    session = start(stage)
    repo = stage.project.path
    stage.store.update_session(session["id"], repository=f"local:{repo}")
    client = stage.app.test_client()
    missing = client.get(log_path(session, "money"), headers=bearer())
    assert missing.status_code == 404 and "no local log" in missing.json["error"]["message"]

    attempt = ccs_dir(GitRepository(repo)) / "logs" / session["id"] / "money" / "attempt-1"
    attempt.mkdir(parents=True)
    (attempt / "prompt.md").write_text("Implement money\n")
    (attempt / "coder.log").write_text("wrote src/catalog/money.py\n")
    (attempt / "tests.log").write_text("1 passed\n")
    answer = client.get(log_path(session, "money"), headers=bearer())
    assert answer.status_code == 200, answer.json
    text = answer.text
    assert text.index("Implement money") < text.index("wrote src/") < text.index("1 passed")
