"""GET /api/v1/sessions/<id>/events: the session's changes as Server-Sent Events, through the
test client; the results arrive through the real callback route."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.web.stream import close_all
from tests.fakes.queue import RecordingQueue
from tests.fakes.service_runtime import REPO, ServiceStage, bearer
from tests.fakes.stage_results import report, start_running

FAST = {"stream_poll": 0.02, "stream_heartbeat": 0.2}


class Stream:
    """An open event stream read one SSE event (or comment) at a time."""

    def __init__(self, response) -> None:
        self.response = response
        self._chunks = response.response if hasattr(response.response, "__next__") else iter(
            response.response)
        self._buffer = ""

    def next(self) -> tuple[str, dict]:
        """Return the next block's fields: ('event', {...}) or ('comment', {'text': …})."""
        while "\n\n" not in self._buffer:
            chunk = next(self._chunks)
            self._buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        block, self._buffer = self._buffer.split("\n\n", 1)
        if block.startswith(":"):
            return "comment", {"text": block[1:].strip()}
        fields: dict = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            fields[name] = value
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
        return fields.get("event", "retry"), fields

    def until(self, event: str, most: int = 200) -> dict:
        """Read blocks until an `event` one comes (heartbeats in between are fine)."""
        for _ in range(most):
            kind, fields = self.next()
            if kind == event:
                return fields
        raise AssertionError(f"no {event!r} event in {most} blocks")

    def close(self) -> None:
        self.response.close()


@pytest.fixture
def stage(tmp_path: Path) -> Iterator[ServiceStage]:
    yield ServiceStage.create(tmp_path, queue="inline", **FAST)


def open_stream(stage: ServiceStage, session_id: str, **headers: str) -> Stream:
    answer = stage.app.test_client().get(f"/api/v1/sessions/{session_id}/events",
                                         headers={**bearer(), **headers}, buffered=False)
    assert answer.status_code == 200, answer.data
    assert answer.mimetype == "text/event-stream"
    assert answer.headers["Cache-Control"] == "no-cache"
    return Stream(answer)


def test_a_watcher_sees_the_session_then_each_child_then_the_end(stage: ServiceStage) -> None:
    session_id = start_running(stage)
    stream = open_stream(stage, session_id)
    first = stream.until("session")
    assert first["data"]["id"] == session_id and first["data"]["status"] == "running"
    assert [c["status"] for c in first["data"]["children"]] == ["dispatched", "dispatched"]
    assert int(first["id"]) > 0

    isbn = report(stage, "isbn")
    child = stream.until("child")
    assert child["data"]["id"] == isbn and child["data"]["status"] == "succeeded"
    assert child["data"]["tests"]["passed"] >= 1 and "live" in child["data"]
    assert int(child["id"]) > int(first["id"])

    report(stage, "money", "failed")
    money = stream.until("child")
    assert money["data"]["component"] == "money" and money["data"]["status"] == "failed"
    rested = stream.until("end")
    assert rested["data"] == {"status": "needs_attention"}
    with pytest.raises(StopIteration):
        stream.next()  # the stream closes after `end`


def test_last_event_id_resumes_after_what_the_watcher_saw(stage: ServiceStage) -> None:
    session_id = start_running(stage)
    report(stage, "isbn")
    seen = open_stream(stage, session_id)
    seen_id = seen.until("session")["id"]
    seen.close()
    report(stage, "money")
    resumed = open_stream(stage, session_id, **{"Last-Event-ID": seen_id})
    assert resumed.until("session")["id"] == seen_id
    kind, fields = resumed.next()
    # Only what followed: money's move, not isbn's again.
    assert (kind, fields["data"]["component"]) == ("child", "money")
    assert resumed.until("end")["data"]["status"] == "complete"


def test_a_quiet_stream_sends_heartbeats_and_ends_on_shutdown(stage: ServiceStage) -> None:
    stream = open_stream(stage, start_running(stage))
    stream.until("session")
    assert stream.until("comment")["text"] == "heartbeat"
    close_all()
    with pytest.raises(StopIteration):
        while True:
            stream.next()


def test_streams_past_the_limit_get_503_with_retry_after(tmp_path: Path) -> None:
    stage = ServiceStage.create(tmp_path, queue=RecordingQueue(), max_streams=1, **FAST)
    session_id = start_running(stage)
    first = open_stream(stage, session_id)
    first.until("session")
    refused = stage.app.test_client().get(f"/api/v1/sessions/{session_id}/events",
                                          headers=bearer())
    assert refused.status_code == 503 and refused.headers["Retry-After"].isdigit()
    assert refused.json["error"]["code"] == "too_many_streams"
    first.close()  # gives its slot back
    open_stream(stage, session_id).until("session")


def test_the_stream_needs_the_token_a_known_session_and_a_sane_last_event_id(
        stage: ServiceStage) -> None:
    session_id = start_running(stage)
    client = stage.app.test_client()
    path = f"/api/v1/sessions/{session_id}/events"
    assert client.get(path).status_code == 401
    assert client.get(path, headers=bearer("wrong")).status_code == 401
    assert client.get("/api/v1/sessions/ffffffffff/events", headers=bearer()).status_code == 404
    bad = client.get(path, headers={**bearer(), "Last-Event-ID": "-1; drop"})
    assert bad.status_code == 400 and bad.json["error"]["code"] == "bad_last_event_id"
    assert stage.app.extensions["ccs"]["streams"].open == 0  # none of these took a slot


def test_a_job_reports_its_attempt_boundaries_which_watchers_see(stage: ServiceStage) -> None:
    session_id = start_running(stage)
    isbn = stage.store.children(session_id)[0]
    stream = open_stream(stage, session_id)
    stream.until("session")
    client = stage.app.test_client()
    path = f"/api/v1/children/{isbn.id}/progress"
    answer = client.post(path, json={"phase": "coder", "attempt": 1, "attempts": 3},
                         headers=bearer(stage.issuer.issue(repository=REPO)))
    assert answer.status_code == 202, answer.json
    seen = stream.until("child")
    assert seen["data"]["status"] == "running"  # the first boundary is the job's start
    assert seen["data"]["live"]["phase"] == "coder"
    assert (seen["data"]["live"]["attempt"], seen["data"]["live"]["attempts"]) == (1, 3)

    refused = {
        "no token": client.post(path, json={"phase": "tests"}),
        "another repository": client.post(path, json={"phase": "tests"}, headers=bearer(
            stage.issuer.issue(repository="someone/else"))),
        "not a phase": client.post(path, json={"phase": "rm -rf /", "attempt": 1},
                                   headers=bearer(stage.issuer.issue(repository=REPO))),
    }
    assert {name: answer.status_code for name, answer in refused.items()} == {
        "no token": 401, "another repository": 403, "not a phase": 400}
    report(stage, "isbn")
    late = client.post(path, json={"phase": "tests", "attempt": 1, "attempts": 3},
                       headers=bearer(stage.issuer.issue(repository=REPO)))
    assert late.status_code == 409
    phases = [e.data["phase"] for e in stage.store.events(session_id) if e.kind == "progress"]
    assert phases == ["coder"]  # nothing refused was recorded


def test_a_progress_post_keeps_the_general_body_limit(stage: ServiceStage) -> None:
    # Only a result may carry a bundle past the limit; a progress post is a few bytes.
    isbn = stage.store.children(start_running(stage))[0]
    path = f"/api/v1/children/{isbn.id}/progress"
    padded = {"phase": "coder", "attempt": 1, "attempts": 3,
              "padding": "x" * (6 * 2**20)}  # over the 5 MiB limit, under a result's 9 MiB
    answer = stage.app.test_client().post(
        path, json=padded, headers=bearer(stage.issuer.issue(repository=REPO)))
    assert answer.status_code == 413, answer.json
