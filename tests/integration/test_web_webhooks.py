"""POST /webhooks/github through the Flask test client, with real recorded payloads."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.adapters.db.models import InstallationRow
from service.domain.commands import HELP_TEXT
from service.web.signature import sign
from service.worker.tasks import handle_event, redrive_events, resume
from tests.fakes.queue import RecordingQueue
from tests.fakes.service_runtime import (
    REPO,
    WEBHOOK_SECRET,
    ServiceStage,
    bearer,
    comment_payload,
    load,
)

URL = "/webhooks/github"


@pytest.fixture
def stage(tmp_path: Path) -> ServiceStage:
    return ServiceStage.create(tmp_path)


def sessions(stage: ServiceStage) -> list:
    return stage.store.sessions(REPO)


def test_missing_or_wrong_signature_is_401(stage: ServiceStage) -> None:
    client = stage.app.test_client()
    kwargs = stage.webhook("ping", load("ping.event.0"))
    del kwargs["headers"]["X-Hub-Signature-256"]
    answer = client.post(URL, **kwargs)
    assert answer.status_code == 401
    assert answer.json["error"]["code"] == "bad_signature"
    answer = client.post(URL, **stage.webhook("ping", load("ping.event.0"), secret="wrong"))
    assert answer.status_code == 401


def test_no_secret_configured_is_503(tmp_path: Path) -> None:
    stage = ServiceStage.create(tmp_path, webhook_secret=None)
    answer = stage.app.test_client().post(URL, **stage.webhook("ping", load("ping.event.0")))
    assert answer.status_code == 503
    assert "CCS_WEBHOOK_SECRET" in answer.json["error"]["message"]


def test_body_over_the_limit_is_413_json(tmp_path: Path) -> None:
    stage = ServiceStage.create(tmp_path, max_body_bytes=1000)
    payload = comment_payload("x" * 2000)
    answer = stage.app.test_client().post(URL, **stage.webhook("issue_comment", payload))
    assert answer.status_code == 413
    assert answer.json["error"]["code"] == "body_too_large"


def test_ping_answers_200_and_does_nothing(tmp_path: Path) -> None:
    queue = RecordingQueue()
    stage = ServiceStage.create(tmp_path, queue=queue)
    for index in range(4):
        answer = stage.app.test_client().post(
            URL, **stage.webhook("ping", load(f"ping.event.{index}")))
        assert answer.status_code == 200, answer.json
    assert queue.calls == []


def test_an_answered_webhook_is_never_lost_and_takes_effect_once(tmp_path: Path) -> None:
    # DESIGN §8. The queue takes the task and the process dies before it runs: a recording
    # queue is exactly that (the task is never run).
    queue = RecordingQueue()
    stage = ServiceStage.create(tmp_path, queue=queue)
    stage.github.permissions["Codertocat"] = "write"
    client = stage.app.test_client()
    kwargs = stage.webhook("issue_comment", comment_payload("/ccs implement catalog"),
                           delivery="delivery-1")
    assert client.post(URL, **kwargs).status_code == 202
    assert stage.store.sessions(None) == []  # lost with its process

    # GitHub's redelivery of a delivery that never took effect takes effect ...
    again = client.post(URL, **kwargs)
    assert again.status_code == 202 and again.json == {"status": "queued"}
    # ... and so does reconcile, with no redelivery at all. Re-driven twice: one session.
    services = stage.app.extensions["ccs"]["services"]
    assert redrive_events(services, older_than_seconds=-60) == ["delivery-1"]
    assert queue.calls == [("handle_event", ("delivery-1",))] * 3
    for _ in range(2):
        handle_event(services, "delivery-1")
    assert len(stage.store.sessions(None)) == 1

    # Once done, a redelivery does nothing twice.
    done = client.post(URL, **kwargs)
    assert done.status_code == 200 and done.json == {"status": "duplicate"}
    assert redrive_events(services, older_than_seconds=-60) == []
    assert len(stage.store.sessions(None)) == 1


def test_start_up_does_the_lost_deliveries_and_moves_the_stalled_sessions(
        tmp_path: Path) -> None:
    # Every queue task of a killed worker is gone: the delivery it was handling and the
    # step a session was in. A new worker's first task does both at once, not a minute
    # later at the periodic reconcile.
    stage = ServiceStage.create(tmp_path, queue=RecordingQueue())
    stage.github.permissions["Codertocat"] = "write"
    client = stage.app.test_client()
    client.post(URL, **stage.webhook("issue_comment", comment_payload("/ccs implement catalog")))
    api = client.post("/api/v1/sessions", json={"repository": REPO, "context": "catalog"},
                      headers=bearer())
    assert api.status_code == 201 and api.json["status"] == "pending"

    services = stage.app.extensions["ccs"]["services"]
    assert resume(services) == {"events": 1, "sessions": 2}

    statuses = sorted(session.status for session in stage.store.sessions(None))
    assert statuses == ["running", "running"]
    assert redrive_events(services, older_than_seconds=-60) == []


def test_implement_comment_starts_a_session_and_reacts(stage: ServiceStage) -> None:
    stage.github.permissions["Codertocat"] = "write"
    payload = comment_payload("Please:\n/ccs implement catalog\n")
    answer = stage.app.test_client().post(URL, **stage.webhook("issue_comment", payload))
    assert answer.status_code == 202
    (session,) = sessions(stage)
    assert session.context == "catalog" and session.source == "comment"
    assert session.installation_id == 1 and session.issue_number == payload["issue"]["number"]
    assert session.requested_by == "Codertocat" and session.status == "running"
    assert stage.github.reactions == [(payload["comment"]["id"], "eyes")]
    assert stage.project.executor.dispatched == ["isbn", "money"]
    assert stage.github.replies == []


def test_comment_without_write_permission_is_refused(stage: ServiceStage) -> None:
    stage.github.permissions["Codertocat"] = "read"
    payload = comment_payload("/ccs implement catalog")
    stage.app.test_client().post(URL, **stage.webhook("issue_comment", payload))
    assert sessions(stage) == []
    assert stage.github.reactions == []
    ((issue, body),) = stage.github.replies
    assert issue == payload["issue"]["number"] and "write access" in body


def test_bot_comments_are_ignored(stage: ServiceStage) -> None:
    stage.github.permissions["helper[bot]"] = "admin"
    payload = comment_payload("/ccs implement catalog", user="helper[bot]", type="Bot")
    answer = stage.app.test_client().post(URL, **stage.webhook("issue_comment", payload))
    assert answer.status_code == 200 and answer.json["status"] == "ignored"
    assert sessions(stage) == [] and stage.github.replies == []


def test_edited_comments_are_ignored(stage: ServiceStage) -> None:
    stage.github.permissions["Codertocat"] = "admin"
    payload = comment_payload("/ccs implement catalog")
    payload["action"] = "edited"
    answer = stage.app.test_client().post(URL, **stage.webhook("issue_comment", payload))
    assert answer.status_code == 200 and answer.json["status"] == "ignored"
    assert sessions(stage) == []


def test_comment_without_commands_does_nothing(stage: ServiceStage) -> None:
    stage.app.test_client().post(URL, **stage.webhook("issue_comment", comment_payload("hi")))
    assert stage.github.reactions == [] and stage.github.replies == []


def test_unknown_command_replies_with_help(stage: ServiceStage) -> None:
    stage.github.permissions["Codertocat"] = "maintain"
    stage.app.test_client().post(URL, **stage.webhook("issue_comment",
                                                      comment_payload("/ccs frobnicate")))
    ((_, body),) = stage.github.replies
    assert "> `frobnicate` is not a ccs command" in body and HELP_TEXT in body


def test_unknown_context_replies_with_the_quoted_reason(stage: ServiceStage) -> None:
    stage.github.permissions["Codertocat"] = "write"
    stage.app.test_client().post(URL, **stage.webhook("issue_comment",
                                                      comment_payload("/ccs implement nope")))
    assert sessions(stage) == []
    ((_, body),) = stage.github.replies
    assert body.startswith("ccs could not do that:") and "\n> " in body and "nope" in body


def test_label_starts_a_session(stage: ServiceStage) -> None:
    stage.github.permissions["Codertocat"] = "admin"
    payload = load("issues.labeled.9")
    payload["label"]["name"] = "ccs:catalog"
    answer = stage.app.test_client().post(URL, **stage.webhook("issues", payload))
    assert answer.status_code == 202
    (session,) = sessions(stage)
    assert session.source == "label" and session.issue_number == payload["issue"]["number"]


def test_other_labels_do_nothing(stage: ServiceStage) -> None:
    stage.github.permissions["Codertocat"] = "admin"
    stage.app.test_client().post(URL, **stage.webhook("issues", load("issues.labeled.9")))
    assert sessions(stage) == [] and stage.github.replies == []


def test_job_completed_without_a_result_fails_the_child(stage: ServiceStage) -> None:
    stage.github.permissions["Codertocat"] = "write"
    stage.app.test_client().post(URL, **stage.webhook(
        "issue_comment", comment_payload("/ccs implement catalog")))
    (session,) = sessions(stage)
    payload = load("workflow_job.completed.1")
    run_id = payload["workflow_job"]["run_id"]
    children = {c.component: c for c in stage.store.children(session.id)}
    for child in children.values():
        stage.store.update_child(child.id, run_id=run_id)
    payload["workflow_job"]["name"] = f"child ({children['money'].id}, money, catalog)"
    stage.app.test_client().post(URL, **stage.webhook("workflow_job", payload))
    after = {c.component: c for c in stage.store.children(session.id)}
    assert after["isbn"].status == "dispatched"
    assert after["money"].status == "failed"
    assert after["money"].message.startswith("the job ended (failure) without reporting")
    assert payload["workflow_job"]["html_url"] in after["money"].message
    run = load("workflow_run.completed.0")
    run["workflow_run"]["id"] = run_id
    stage.app.test_client().post(URL, **stage.webhook("workflow_run", run))
    assert stage.store.session(session.id).status == "needs_attention"


def test_installation_events_keep_a_row(stage: ServiceStage) -> None:
    payload = {"action": "created", "installation": {"id": 42, "account": {"login": "octo"}},
               "repositories": [{"full_name": "octo/one"}], "sender": {"login": "octo"}}
    answer = stage.app.test_client().post(URL, **stage.webhook("installation", payload))
    assert answer.status_code == 202
    with stage.store.unit() as db:
        row = db.get(InstallationRow, 42)
        assert (row.account, row.active, row.repositories) == ("octo", True, ["octo/one"])


# Installations suspended or removed (issue 10, finding 8) ---------------------------


def _start(stage: ServiceStage, repository: str = REPO):
    return stage.app.test_client().post(
        "/api/v1/sessions", json={"repository": repository, "context": "catalog"},
        headers=bearer())


def test_a_suspended_installation_refuses_starts_until_unsuspended(stage: ServiceStage) -> None:
    client = stage.app.test_client()
    assert client.post(URL, **stage.webhook("installation",
                                            load("installation.suspend.5"))).status_code == 202

    refused = _start(stage)
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "installation_suspended"
    assert "suspended" in refused.json["error"]["message"]
    assert "unsuspend" in refused.json["error"]["message"]
    client.post(URL, **stage.webhook("issue_comment", comment_payload("/ccs implement catalog")))
    assert sessions(stage) == [] and stage.runtime.asked == []  # no GitHub call at all

    client.post(URL, **stage.webhook("installation", load("installation.unsuspend.6")))
    assert _start(stage).status_code == 201


def test_a_deleted_installation_refuses_starts_with_what_to_do(tmp_path: Path) -> None:
    stage = ServiceStage.create(tmp_path)
    payload = load("installation.deleted.0")  # octocat/Hello-World
    stage.app.test_client().post(URL, **stage.webhook("installation", payload))

    refused = _start(stage, "octocat/Hello-World")
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "installation_removed"
    assert "install the App" in refused.json["error"]["message"]
    assert stage.store.sessions("octocat/Hello-World") == []
    assert _start(stage, REPO).status_code == 201  # another account is not affected


def test_deeply_nested_json_on_a_signed_webhook_is_400_not_500(stage: ServiceStage) -> None:
    # Issue 10, finding 5: json.loads raised RecursionError on a signed body (a 500).
    body = '{"action": "created", "comment": ' + "[" * 5000 + "]" * 5000 + "}"
    kwargs = stage.webhook("issue_comment", {})
    kwargs["data"] = body.encode()
    kwargs["headers"]["X-Hub-Signature-256"] = sign(WEBHOOK_SECRET.encode(), body.encode())

    answer = stage.app.test_client().post(URL, **kwargs)

    assert answer.status_code == 400
    assert answer.json["error"]["code"] == "too_deep"
    assert sessions(stage) == []
