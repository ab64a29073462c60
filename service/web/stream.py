"""GET /api/v1/sessions/<id>/events: the session's event stream as Server-Sent Events.

At connect one `session` event; then a `child` or `session` event per change, each with the
`id:` a reconnect sends back as Last-Event-ID; an `end` event when the session rests. A
stream holds one thread of a gthread worker (never a whole worker), looks for new events
every CCS_STREAM_POLL seconds (one indexed query), sends a heartbeat comment every
CCS_STREAM_HEARTBEAT seconds, and ends when the process shuts down (Streams.close).
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, request

from service.adapters.db.store import NotFound
from service.adapters.db.watch import SessionWatch
from service.domain.spend import total_usage
from service.web.errors import ApiError
from service.web.shapes import child_json, interaction_json, progress, session_summary
from service.web.state import require_api_token, services

bp = Blueprint("stream", __name__, url_prefix="/api/v1")
RETRY_AFTER_SECONDS = 5
RECONNECT_MS = 3000


class Streams:
    """How many streams this process serves, at most `limit`; `close()` ends them all."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self.closing = threading.Event()
        self._lock = threading.Lock()
        _EVERY.add(self)

    def acquire(self) -> bool:
        """Take a slot; False when all are taken or the process is shutting down."""
        with self._lock:
            if self.open >= self.limit or self.closing.is_set():
                return False
            self.open += 1
            return True

    def release(self) -> None:
        """Give a slot back."""
        with self._lock:
            self.open = max(0, self.open - 1)

    def close(self) -> None:
        """End every open stream at its next look for events (shutdown)."""
        self.closing.set()


_EVERY: weakref.WeakSet[Streams] = weakref.WeakSet()


def close_all() -> None:
    """End the streams of every app in this process (the web worker is shutting down)."""
    for registry in list(_EVERY):
        registry.close()


def streams() -> Streams:
    """Return this app's stream registry."""
    return current_app.extensions["ccs"]["streams"]


def init_app(app: Any, limit: int) -> None:
    """Give the app its stream registry."""
    app.extensions["ccs"]["streams"] = Streams(limit)


@bp.get("/sessions/<session_id>/events")
def session_events(session_id: str) -> Response:
    """Stream the session's changes until it rests (text/event-stream)."""
    require_api_token()
    after = _last_event_id()
    s, registry = services(), streams()
    try:
        s.store.session(session_id)
    except NotFound:
        raise ApiError(404, "not_found", f"no session {session_id!r}") from None
    if not registry.acquire():
        response = Response(json.dumps({"error": {
            "code": "too_many_streams",
            "message": "this process serves as many event streams as it may; retry later"}}),
            status=503, mimetype="application/json")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    try:
        watch = SessionWatch(s.store, session_id, after=after)
    except BaseException:
        registry.release()
        raise
    config = s.config
    body = _events(watch, s.store, registry.closing, config.stream_poll,
                   config.stream_heartbeat)
    response = Response(body, mimetype="text/event-stream")
    # Released when the server closes the response, also if the client left before the
    # first byte (a generator that never started runs no `finally`).
    response.call_on_close(registry.release)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


def _last_event_id() -> int:
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id") or "0"
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(400, "bad_last_event_id",
                       "Last-Event-ID must be an id this stream sent (a whole number)")
    return int(raw)


def _events(watch: SessionWatch, store: Any, closing: threading.Event, poll: float,
            heartbeat: float) -> Iterator[str]:
    yield f"retry: {RECONNECT_MS}\n"
    yield sse("session", live_session_json(watch, store), watch.view.last_id)
    beat = time.monotonic()
    while not closing.is_set():
        changes = watch.poll()
        sent = _changes(watch, store, changes)
        yield from sent
        if watch.rested:
            yield sse("end", {"status": watch.session.status}, watch.view.last_id)
            return
        if sent or time.monotonic() - beat >= heartbeat:
            if not sent:
                yield ": heartbeat\n\n"
            beat = time.monotonic()
        closing.wait(poll)


def _changes(watch: SessionWatch, store: Any, changes: Any) -> list[str]:
    """Return the SSE events for what changed, in id order (a child once: its last id)."""
    sent = []
    for child_id, event_id in sorted(changes.children.items(), key=lambda item: item[1]):
        row = watch.child(child_id)
        if row is not None:
            sent.append(sse("child", live_child_json(watch, row), event_id))
    if changes.session:
        sent.append(sse("session", live_session_json(watch, store), changes.session))
    return sent


def live_child_json(watch: SessionWatch, child: Any) -> dict[str, Any]:
    """Return the child JSON (DESIGN §5) plus what it is doing now (`live`)."""
    return {**child_json(child), "live": watch.view.of(child.id).to_json()}


def live_session_json(watch: SessionWatch, store: Any) -> dict[str, Any]:
    """Return the session JSON (DESIGN §5) from the watch's rows, children with `live`."""
    children = watch.children
    body = session_summary(watch.session)
    body["progress"] = progress(children)
    body["usage"] = total_usage(children).to_json()
    body["budget"] = watch.session.budget
    body["children"] = [live_child_json(watch, c) for c in children]
    body["interactions"] = [interaction_json(i) for i in store.interactions(watch.session.id)]
    return body


def sse(event: str, data: Any, event_id: int | None = None) -> str:
    """Return one Server-Sent Event (JSON data on one line, so no `data:` splitting)."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
