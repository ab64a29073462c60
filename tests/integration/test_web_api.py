"""REST API v1, /healthz, /metrics, /openapi.json and the dashboard through the test client."""

from __future__ import annotations

import base64
from pathlib import Path

import jsonschema
import pytest

from tests.fakes.queue import RecordingQueue
from tests.fakes.service_runtime import REPO, ServiceStage, bearer

SESSION_KEYS = {"id", "repository", "context", "status", "branch", "base_sha", "progress",
                "children", "interactions", "pull_request_url", "message", "usage", "budget"}
CHILD_KEYS = {"id", "component", "status", "attempts", "commit", "tests", "run_url", "message",
              "usage", "wave"}  # usage: DESIGN §5 (added with §3a); wave: §3b


@pytest.fixture
def stage(tmp_path: Path) -> ServiceStage:
    return ServiceStage.create(tmp_path)


def start(stage: ServiceStage, **body) -> dict:
    answer = stage.app.test_client().post(
        "/api/v1/sessions", json={"repository": REPO, "context": "catalog", **body},
        headers=bearer())
    assert answer.status_code == 201, answer.json
    return answer.json


def test_reads_need_the_api_token(stage: ServiceStage) -> None:
    client = stage.app.test_client()
    for headers in ({}, bearer("wrong"), {"Authorization": "Basic abc"}):
        answer = client.get("/api/v1/sessions", headers=headers)
        assert answer.status_code == 401
        assert set(answer.json["error"]) == {"code", "message"}
    assert client.post("/api/v1/sessions", json={"repository": REPO, "context": "catalog"},
                       headers=bearer("wrong")).status_code == 401


def test_start_returns_the_session_in_the_contract_shape(stage: ServiceStage) -> None:
    body = start(stage)
    assert set(body) >= SESSION_KEYS
    assert body["repository"] == REPO and body["branch"].startswith("ccs/catalog-")
    assert body["status"] == "running"  # the inline queue ran Initialize already
    assert body["progress"] == {"total": 2, "succeeded": 0, "failed": 0, "running": 2,
                                "pending": 0}
    assert [set(c) for c in body["children"]] == [CHILD_KEYS, CHILD_KEYS]
    assert [c["component"] for c in body["children"]] == ["isbn", "money"]
    assert body["interactions"][0]["step"] == "start"
    shown = stage.app.test_client().get(f"/api/v1/sessions/{body['id']}", headers=bearer())
    assert shown.status_code == 200 and shown.json["id"] == body["id"]


def test_start_records_pending_and_queues_initialize(tmp_path: Path) -> None:
    queue = RecordingQueue()
    stage = ServiceStage.create(tmp_path, queue=queue)
    body = start(stage, components=["money"], base="main", issue=7)
    assert body["status"] == "pending" and body["progress"]["total"] == 0
    assert queue.calls == [("advance", (body["id"],))]
    session = stage.store.session(body["id"])
    assert session.source == "api" and session.requested_components == ["money"]


@pytest.mark.parametrize("body, code", [
    ({"repository": REPO}, "missing_field"),
    ({"repository": "nope", "context": "catalog"}, "bad_field"),
    ({"repository": REPO, "context": "catalog", "extra": 1}, "unknown_field"),
    ({"repository": REPO, "context": "catalog", "issue": "7"}, "bad_field"),
    ({"repository": REPO, "context": "Bad Name"}, "invalid_name"),
    ({"repository": REPO, "context": "nope"}, "unknown_context"),
])
def test_start_rejects_bad_bodies(stage: ServiceStage, body: dict, code: str) -> None:
    answer = stage.app.test_client().post("/api/v1/sessions", json=body, headers=bearer())
    assert answer.status_code in (400, 422) and answer.json["error"]["code"] == code
    assert stage.store.sessions(None) == []


def test_start_with_an_oidc_token_of_the_same_repository(stage: ServiceStage) -> None:
    client = stage.app.test_client()
    body = {"repository": REPO, "context": "catalog"}
    other = stage.issuer.issue(repository="someone/else")
    answer = client.post("/api/v1/sessions", json=body, headers=bearer(other))
    assert answer.status_code == 403 and answer.json["error"]["code"] == "wrong_repository"
    token = stage.issuer.issue(repository=REPO.lower())
    assert client.post("/api/v1/sessions", json=body, headers=bearer(token)).status_code == 201
    assert client.post("/api/v1/sessions", json=body, headers=bearer(token)).status_code == 401


def test_list_is_newest_first_with_a_cursor(stage: ServiceStage) -> None:
    ids = [start(stage)["id"] for _ in range(5)]
    client = stage.app.test_client()
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/sessions", query_string=query, headers=bearer()).json
        seen += [s["id"] for s in page["sessions"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    filtered = client.get("/api/v1/sessions", query_string={"status": "complete"},
                          headers=bearer()).json
    assert filtered == {"sessions": [], "next": None}
    other = client.get("/api/v1/sessions", query_string={"repository": "x/y"}, headers=bearer())
    assert other.json["sessions"] == []
    bad = client.get("/api/v1/sessions", query_string={"cursor": "!!"}, headers=bearer())
    assert bad.status_code == 400


def test_retry_and_cancel(tmp_path: Path) -> None:
    queue = RecordingQueue()
    stage = ServiceStage.create(tmp_path, queue=queue)
    client = stage.app.test_client()
    session_id = start(stage)["id"]
    assert client.post("/api/v1/sessions/0000000000/retry", headers=bearer()).status_code == 404
    busy = client.post(f"/api/v1/sessions/{session_id}/retry", headers=bearer())
    assert busy.status_code == 409 and busy.json["error"]["code"] == "session_busy"
    answer = client.post(f"/api/v1/sessions/{session_id}/cancel", headers=bearer())
    assert answer.status_code == 202
    assert queue.calls[-1] == ("cancel", (session_id, REPO))
    assert client.post(f"/api/v1/sessions/{session_id}/cancel").status_code == 401


def test_healthz_metrics_and_openapi(stage: ServiceStage) -> None:
    client = stage.app.test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    start(stage)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'ccs_sessions{status="running"} 1' in text
    assert "# TYPE ccs_http_request_duration_seconds histogram" in text
    assert 'ccs_http_request_duration_seconds_count{endpoint="/healthz"' in text
    document = client.get("/openapi.json").json
    check_openapi(document)
    documented = set(document["paths"])
    for rule in stage.app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        assert path in documented, path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in document["paths"][path], (method, path)


def check_openapi(document: dict) -> None:
    """Validate with openapi_spec_validator when installed, else check the structure."""
    try:
        from openapi_spec_validator import validate
    except ImportError:
        assert document["openapi"].startswith("3.1")
        for path, operations in document["paths"].items():
            assert path.startswith("/")
            for operation in operations.values():
                assert operation["responses"]
                for response in operation["responses"].values():
                    for media in response.get("content", {}).values():
                        schema = media["schema"]
                        if "$ref" in schema:
                            assert schema["$ref"].split("/")[-1] in document["components"][
                                "schemas"]
        for schema in document["components"]["schemas"].values():
            jsonschema.Draft202012Validator.check_schema(schema)
        return
    validate(document)


def test_dashboard_needs_the_token_and_escapes(stage: ServiceStage) -> None:
    client = stage.app.test_client()
    answer = client.get("/")
    assert answer.status_code == 401 and "Basic" in answer.headers["WWW-Authenticate"]
    session_id = start(stage)["id"]
    child = stage.store.children(session_id)[0]
    stage.store.update_child(child.id, message="<script>alert(1)</script>",
                             run_url="javascript:alert(1)")
    basic = base64.b64encode(b"me:" + b"api-token-for-tests").decode()
    page = client.get("/", headers={"Authorization": f"Basic {basic}"})
    assert page.status_code == 200 and session_id in page.get_data(as_text=True)
    detail = client.get(f"/sessions/{session_id}", headers=bearer()).get_data(as_text=True)
    assert "<script>alert" not in detail and "&lt;script&gt;" in detail
    assert 'href="javascript:' not in detail
    assert client.get("/sessions/0000000000", headers=bearer()).status_code == 404


def test_unknown_route_is_json(stage: ServiceStage) -> None:
    answer = stage.app.test_client().get("/nope")
    assert answer.status_code == 404 and answer.json["error"]["code"] == "not_found"
