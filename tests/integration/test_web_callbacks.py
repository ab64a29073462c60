"""POST /api/v1/children/<id>/result: auth, binding, first result wins, exactly one fan-in."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from service.auth import child_tokens
from tests.fakes.local import scratch_postgres
from tests.fakes.queue import RecordingQueue
from tests.fakes.service_runtime import REPO, ServiceStage, bearer

RUN_ID = 2202229078  # the fake issuer's default run_id claim


def url(child_id: str) -> str:
    return f"/api/v1/children/{child_id}/result"


def started(stage: ServiceStage, run_id: int | None = RUN_ID) -> str:
    session = stage.project.start(repository=REPO, context="catalog",
                                               base="main")
    for child in stage.store.children(session.id):
        stage.store.update_child(child.id, run_id=run_id)
    return session.id


def body(stage: ServiceStage, component: str, status: str = "succeeded", **kw) -> tuple[str,
                                                                                          dict]:
    child_id, result = stage.project.executor.result(component, status, **kw)
    return child_id, result.to_json()


def token(stage: ServiceStage, **claims) -> dict[str, str]:
    return bearer(stage.issuer.issue(repository=REPO, **claims))


@pytest.fixture
def stage(tmp_path: Path) -> ServiceStage:
    return ServiceStage.create(tmp_path)


def test_valid_token_is_accepted_once_then_409(stage: ServiceStage) -> None:
    session_id = started(stage)
    child_id, result = body(stage, "isbn")
    client = stage.app.test_client()
    answer = client.post(url(child_id), json=result, headers=token(stage))
    assert answer.status_code == 202, answer.json
    assert stage.store.child(child_id).status == "succeeded"
    again = client.post(url(child_id), json=result, headers=token(stage))
    assert again.status_code == 409 and again.json["error"]["code"] == "already_recorded"
    child_id, result = body(stage, "money")
    assert client.post(url(child_id), json=result, headers=token(stage)).status_code == 202
    assert stage.store.session(session_id).status == "complete"


@pytest.mark.parametrize("claims, status, code", [
    ({"aud": "https://elsewhere.example"}, 401, "wrong_audience"),
    ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, 401, "token_expired"),
    ({"repository": "someone/else"}, 403, "wrong_repository"),
    ({"run_id": "1"}, 403, "wrong_run"),
])
def test_bad_tokens_change_nothing(stage: ServiceStage, claims: dict, status: int,
                                   code: str) -> None:
    started(stage)
    child_id, result = body(stage, "isbn")
    merged = {"repository": REPO, **claims}
    answer = stage.app.test_client().post(url(child_id), json=result,
                                          headers=bearer(stage.issuer.issue(**merged)))
    assert (answer.status_code, answer.json["error"]["code"]) == (status, code)
    assert stage.store.child(child_id).status == "dispatched"


def test_missing_and_replayed_tokens_are_401(stage: ServiceStage) -> None:
    started(stage)
    child_id, result = body(stage, "isbn", status="failed")
    client = stage.app.test_client()
    assert client.post(url(child_id), json=result).status_code == 401
    once = token(stage)
    assert client.post(url(child_id), json={"status": "bogus"}, headers=once).status_code == 400
    replay = client.post(url(child_id), json=result, headers=once)
    assert replay.status_code == 401 and replay.json["error"]["code"] == "token_replayed"
    assert stage.store.child(child_id).status == "dispatched"


def test_unknown_child_is_404(stage: ServiceStage) -> None:
    answer = stage.app.test_client().post(url("feedfacefeedface"), json={"status": "failed"},
                                          headers=token(stage))
    assert answer.status_code == 404


def test_token_mode(tmp_path: Path) -> None:
    stage = ServiceStage.create(tmp_path, callback_auth="token", callback_secret="s3cret")
    started(stage)
    child_id, result = body(stage, "isbn")
    other_id, _ = body(stage, "money")
    client = stage.app.test_client()
    key = stage.app.extensions["ccs"]["services"].config.callback_token_key()
    wrong = client.post(url(child_id), json=result,
                        headers=bearer(child_tokens.issue(key, other_id)))
    assert wrong.status_code == 401
    right = client.post(url(child_id), json=result,
                        headers=bearer(child_tokens.issue(key, child_id)))
    assert right.status_code == 202


def test_the_fan_in_task_is_queued_for_the_session(tmp_path: Path) -> None:
    queue = RecordingQueue()
    stage = ServiceStage.create(tmp_path, queue=queue)
    session_id = started(stage)
    child_id, result = body(stage, "isbn")
    stage.app.test_client().post(url(child_id), json=result, headers=token(stage))
    assert queue.calls == [("fan_in", (session_id,))]


# Real concurrency --------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'web.db'}"
        return
    with scratch_postgres(request.getfixturevalue("postgres_url")) as scratch:
        yield scratch


def test_two_last_callbacks_at_once_fan_in_exactly_once(tmp_path: Path,
                                                        database_url: str) -> None:
    stage = ServiceStage.create(tmp_path, {"isbn": 30, "money": 20, "stock": 10},
                                database_url=database_url)
    session_id = started(stage)
    client = stage.app.test_client()
    child_id, result = body(stage, "isbn")
    assert client.post(url(child_id), json=result, headers=token(stage)).status_code == 202
    last = [(*body(stage, name), token(stage)) for name in ("money", "stock")]
    barrier = threading.Barrier(len(last))
    statuses: list[int] = []

    def deliver(child_id: str, result: dict, headers: dict) -> None:
        barrier.wait()
        statuses.append(stage.app.test_client().post(url(child_id), json=result,
                                                     headers=headers).status_code)

    threads = [threading.Thread(target=deliver, args=item) for item in last]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [202, 202]
    steps = stage.project.steps(session_id)
    assert steps.count("validate") == 1 and steps.count("complete") == 1, steps
    assert stage.store.session(session_id).status == "complete"
    stage.store.engine.dispose()


def statements_per_callback(tmp_path: Path, components: int) -> int:
    names = {f"c{index:03d}": 0 for index in range(components)}
    tmp_path.mkdir()
    stage = ServiceStage.create(tmp_path, names, queue=RecordingQueue())
    started(stage)
    child_id, result = stage.project.executor.result("c000", commit=False, status="failed")
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    event.listen(stage.store.engine, "before_cursor_execute", count)
    try:
        answer = stage.app.test_client().post(url(child_id), json=result.to_json(),
                                              headers=token(stage))
    finally:
        event.remove(stage.store.engine, "before_cursor_execute", count)
    assert answer.status_code == 202
    return len(statements)


def test_queries_per_callback_do_not_grow_with_children(tmp_path: Path) -> None:
    small = statements_per_callback(tmp_path / "small", 10)
    large = statements_per_callback(tmp_path / "large", 100)
    assert small == large, (small, large)
    assert small <= 8


@pytest.mark.parametrize(("raw", "code"), [
    ('{"status": "failed", "tests": ' + "[" * 5000 + "]" * 5000 + "}", "too_deep"),
    ('{"status": "failed", "tests": {"passed": ' + str(10**30) + "}}", "bad_result"),
    ('{"status": "failed", "usage": {"cost_usd": 1e308}}', "bad_result"),
    ("{not json", "bad_json"),
])
def test_deep_huge_or_broken_bodies_are_400_not_500(stage: ServiceStage, raw: str,
                                                    code: str) -> None:
    started(stage)
    child_id, _ = body(stage, "isbn")
    answer = stage.app.test_client().post(url(child_id), data=raw, headers={
        **token(stage), "Content-Type": "application/json"})
    assert answer.status_code == 400, answer.json
    assert answer.json["error"]["code"] == code
    assert stage.store.child(child_id).status == "dispatched"


def test_a_body_run_id_never_replaces_the_dispatched_run(stage: ServiceStage) -> None:
    started(stage)
    child_id, result = body(stage, "isbn")
    result["run_id"] = 999  # another run's id, sent by whoever holds a valid token
    answer = stage.app.test_client().post(url(child_id), json=result, headers=token(stage))
    assert answer.status_code == 202
    assert stage.store.child(child_id).run_id == RUN_ID


def test_a_result_may_carry_a_bundle_past_the_general_body_limit(stage: ServiceStage) -> None:
    import base64
    import os

    started(stage)
    child_id, result = body(stage, "isbn")
    data = os.urandom(6 * 2**20)  # 8 MiB as base64: over the 5 MiB limit of other bodies
    client = stage.app.test_client()
    answer = client.post(url(child_id), json={**result, "bundle": base64.b64encode(
        data).decode()}, headers=token(stage))
    assert answer.status_code == 202, answer.json
    assert stage.store.bundle(child_id) == data  # kept for Validate, not taken in here
    child_id, result = body(stage, "money")
    too_big = client.post(url(child_id), json={**result, "bundle": "A" * (9 * 2**20)},
                          headers=token(stage))
    assert too_big.status_code == 413 and "bytes" in too_big.json["error"]["message"]
