"""The event stream on a real `ccs serve` (gunicorn, gthread workers): open streams do not
hold the worker, past the limit a watcher gets 503, and SIGTERM ends them at once."""

from __future__ import annotations

import http.client
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from service.cli.serve import WORKER_STOP_SECONDS
from tests.fakes.callback_server import bookshop_files
from tests.fakes.github import FakeGitHub
from tests.fakes.service_process import API_TOKEN, ServiceProcess, service_env

pytestmark = pytest.mark.slow


class Held:
    """A job runner that holds every job until released (the session stays running)."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def __call__(self, run: Any, entry: dict[str, Any], inputs: dict[str, str]) -> str:
        self.gate.wait(300)
        return "cancelled"


def open_stream(service: ServiceProcess, session_id: str) -> tuple[Any, Any]:
    """Open GET …/events and return (connection, response) with the headers read."""
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=120)
    connection.request("GET", f"/api/v1/sessions/{session_id}/events",
                       headers={"Authorization": f"Bearer {API_TOKEN}"})
    return connection, connection.getresponse()


def first_event(response: Any) -> str:
    """Read lines up to the first event's name."""
    while True:
        line = response.fp.readline().decode()
        if line.startswith("event: "):
            return line.removeprefix("event: ").strip()
        assert line, "the stream ended before its first event"


@pytest.fixture
def world(tmp_path) -> Iterator[tuple[FakeGitHub, ServiceProcess, Held]]:
    held = Held()
    with FakeGitHub.start(tmp_path, job_runner=held) as gh:
        service = ServiceProcess.start(tmp_path, {**service_env(gh, tmp_path),
                                                  "CCS_MAX_STREAMS": "2"}, workers=1)
        gh.webhook_url = service.webhook_url
        try:
            yield gh, service, held
        finally:
            held.gate.set()
            service.stop()


def test_streams_hold_threads_not_the_worker_and_end_on_sigterm(world) -> None:
    gh, service, _ = world
    repo = f"books/shop-{uuid.uuid4().hex[:8]}"
    gh.create_repository(repo, files=bookshop_files())
    status, created = service.request("POST", "/api/v1/sessions",
                                      {"repository": repo, "context": "catalog"})
    assert status == 201, created
    streams = [open_stream(service, created["id"]) for _ in range(2)]
    for _, response in streams:
        assert response.status == 200
        assert response.getheader("Content-Type").startswith("text/event-stream")
        assert first_event(response) == "session"
    # One worker process, two streams open: it still answers everything else.
    assert service.request("GET", "/healthz", auth=False)[0] == 200
    assert service.request("GET", f"/api/v1/sessions/{created['id']}")[0] == 200
    refused, answer = open_stream(service, created["id"])
    assert answer.status == 503 and answer.getheader("Retry-After").isdigit()
    refused.close()

    started = time.monotonic()
    service.stop(timeout=WORKER_STOP_SECONDS + 15)
    stopped = time.monotonic() - started
    for connection, response in streams:
        rest = response.fp.read()  # raw: the chunked framing is read by hand above
        # The stream ended cleanly, by ccs: had gunicorn waited out its graceful timeout for
        # it, it would have killed the worker and the last chunk would never have come.
        assert rest.endswith(b"0\r\n\r\n"), rest[-200:]
        assert b"event: end" not in rest  # ... but not rested: the watcher reconnects
        connection.close()
    print(f"shutdown with two open streams took {stopped:.1f} s")
