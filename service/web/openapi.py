"""GET /openapi.json: an OpenAPI 3.1 description of every route."""

from __future__ import annotations

from typing import Any

from service.domain.bundles import MAX_BUNDLE_CHARS
from service.domain.names import NAME_PATTERN, REPOSITORY_PATTERN
from service.domain.spend import MAX_COST_USD
from service.domain.states import ChildStatus, SessionStatus
from service.domain.wire import MAX_CHANGED_FILES, MAX_INTEGER, RESULT_STATUSES
from service.web.api import MAX_LIMIT
from service.web.bodies import MAX_DEPTH

_STR, _INT, _BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
_NSTR = {"type": ["string", "null"]}
_NINT = {"type": ["integer", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties,
            "required": required if required is not None else list(properties)}


# What the API enforces, declared from the same constants (JSON Schema's "$" is Python's \Z).
_NAME = {"type": "string", "pattern": NAME_PATTERN.pattern.replace("\\Z", "$")}
_COUNT = {"type": "integer", "minimum": 0, "maximum": MAX_INTEGER}
_NCOUNT = {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_INTEGER}


def _text(limit: int, nullable: bool = True) -> dict[str, Any]:
    return {"type": ["string", "null"] if nullable else "string", "maxLength": limit}


_TESTS = _obj({"passed": _INT, "failed": _INT, "errors": _INT, "skipped": _INT})
_RESULT_TESTS = {**_obj({name: _COUNT for name in ("passed", "failed", "errors", "skipped")},
                        []), "description": "missing counts are 0"}
_USAGE = _obj({"cost_usd": {"type": "number", "minimum": 0, "maximum": MAX_COST_USD},
               "input_tokens": _COUNT, "output_tokens": _COUNT}, [])
SCHEMAS: dict[str, Any] = {
    "Error": _obj({"error": _obj({"code": _STR, "message": _STR})}),
    "SessionStatus": {"type": "string", "enum": [s.value for s in SessionStatus]},
    "ChildStatus": {"type": "string", "enum": [s.value for s in ChildStatus]},
    "Child": _obj({"id": _STR, "component": _STR, "status": _ref("ChildStatus"),
                   "attempts": _INT, "commit": _NSTR, "tests": _TESTS, "run_url": _NSTR,
                   "message": _STR, "wave": _INT}),
    "Progress": _obj({"total": _INT, "succeeded": _INT, "failed": _INT, "running": _INT,
                      "pending": _INT}),
    "Interaction": _obj({"step": _STR, "command": _STR, "result": _STR, "ok": _BOOL,
                         "at": _NSTR}),
    "SessionSummary": _obj({
        "id": _STR, "repository": _STR, "context": _STR, "status": _ref("SessionStatus"),
        "branch": _STR, "base_sha": _NSTR, "base_ref": _STR, "issue": _NINT,
        "source": _STR, "pull_request_url": _NSTR, "message": _STR, "created_at": _NSTR,
        "updated_at": _NSTR}),
    "Session": {"allOf": [_ref("SessionSummary"), _obj({
        "progress": _ref("Progress"),
        "children": {"type": "array", "items": _ref("Child")},
        # The integration child after a failing verify (DESIGN §3b), or null.
        "integration": {"oneOf": [_ref("Child"), {"type": "null"}]},
        "interactions": {"type": "array", "items": _ref("Interaction")}},
        ["progress", "children", "interactions"])]},
    "SessionList": _obj({"sessions": {"type": "array", "items": _ref("SessionSummary")},
                         "next": _NSTR}),
    "StartSession": {**_obj({
        "repository": {"type": "string",
                       "pattern": REPOSITORY_PATTERN.pattern.replace("\\Z", "$")},
        "context": _NAME, "components": {"type": "array", "items": _NAME},
        "base": _STR, "issue": _INT},
        ["repository", "context"]), "additionalProperties": False},
    "ChildResult": _obj({
        "status": {"type": "string", "enum": list(RESULT_STATUSES)},
        "commit": {"type": ["string", "null"], "pattern": "^[0-9a-fA-F]{1,64}$"},
        "branch": _text(255), "attempts": _NCOUNT, "tests": _RESULT_TESTS,
        "changed_files": {"type": "array", "items": _STR, "maxItems": MAX_CHANGED_FILES},
        "message": {"type": ["string", "null"], "description": "kept up to 4,000 characters"},
        "log_url": _text(2000), "run_id": _NCOUNT, "job_id": _NCOUNT,
        "usage": {"oneOf": [_USAGE, {"type": "null"}]},
        # The child commit as a base64 git bundle (DESIGN §6a), at most 8 MiB encoded.
        "bundle": {"type": "string", "contentEncoding": "base64",
                   "maxLength": MAX_BUNDLE_CHARS}}, ["status"]),
    "ChildProgress": {**_obj({
        "phase": {"type": "string", "enum": ["setup", "coder", "tests"]},
        "attempt": {"type": "integer", "minimum": 0, "maximum": 1000},
        "attempts": {"type": "integer", "minimum": 0, "maximum": 1000}}, ["phase"])},
    "Status": _obj({"status": _STR}, ["status"]),
}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": _ref(schema)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _json("Error", "error") for status in statuses}


def _op(summary: str, responses: dict[str, Any], *, body: str | None = None,
        security: list | None = None, params: list | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if body:
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": _ref(body)}}}
    if security is not None:
        operation["security"] = security
    if params:
        operation["parameters"] = params
    return operation


_QUERY_SCHEMAS: dict[str, Any] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50},
    "status": _ref("SessionStatus"),
}


def _param(name: str, where: str = "query", required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path",
            "schema": _QUERY_SCHEMAS.get(name, _STR)}


TOKEN = [{"apiToken": []}]
START_AUTH = [{"apiToken": []}, {"actionsOidc": []}]
CALLBACK_AUTH = [{"actionsOidc": []}, {"childToken": []}]


def _paths() -> dict[str, Any]:
    sid = [_param("session_id", "path")]
    text = {"description": "text", "content": {"text/plain": {"schema": _STR}}}
    html = {"description": "HTML page", "content": {"text/html": {"schema": _STR}}}
    return {
        "/webhooks/github": {"post": _op(
            "GitHub webhook (X-Hub-Signature-256 over the raw body)",
            {"200": _json("Status", "handled, duplicate or ignored"),
             "202": _json("Status", "queued"), **_errors(400, 401, 413, 503)},
            security=[], params=[_param("X-GitHub-Event", "header", True),
                                 _param("X-GitHub-Delivery", "header", True),
                                 _param("X-Hub-Signature-256", "header", True)])},
        "/api/v1/sessions": {
            "post": _op("Start a session", {"201": _json("Session", "the new session"),
                                            **_errors(400, 401, 403, 404, 413, 422, 502,
                                                      503)},
                        body="StartSession", security=START_AUTH),
            "get": _op("List sessions, newest first", {
                "200": _json("SessionList", "one page"), **_errors(400, 401)},
                security=TOKEN, params=[_param(n) for n in
                                        ("repository", "status", "cursor", "limit")])},
        "/api/v1/sessions/{session_id}": {"get": _op(
            "Show a session", {"200": _json("Session", "the session"), **_errors(401, 404)},
            security=TOKEN, params=sid)},
        "/api/v1/sessions/{session_id}/events": {"get": _op(
            "The session's changes as Server-Sent Events: one `session` event at connect, "
            "then `child` / `session` events (each with the `id:` that Last-Event-ID resumes "
            "after), an `end` event when the session rests; a heartbeat comment every "
            "CCS_STREAM_HEARTBEAT seconds",
            {"200": {"description": "event stream", "content": {"text/event-stream": {
                "schema": _STR}}}, **_errors(400, 401, 404, 503)},
            security=TOKEN, params=[*sid, _param("Last-Event-ID", "header")])},
        "/api/v1/sessions/{session_id}/retry": {"post": _op(
            "Retry what failed", {"202": _json("Status", "queued"),
                                  **_errors(401, 403, 404, 409)},
            security=TOKEN, params=sid)},
        "/api/v1/sessions/{session_id}/cancel": {"post": _op(
            "Cancel a session", {"202": _json("Status", "queued"), **_errors(401, 404, 409)},
            security=TOKEN, params=sid)},
        "/api/v1/sessions/{session_id}/children/{child_id}/log": {"get": _op(
            "A child's log: its Actions job's log, or what a local run kept (secrets masked)",
            {"200": text, **_errors(401, 404, 502, 503)}, security=TOKEN,
            params=[*sid, _param("child_id", "path")])},
        "/api/v1/children/{child_id}/result": {"post": _op(
            "A child job reports its result (the first one wins)",
            {"202": _json("Status", "accepted"), **_errors(400, 401, 403, 404, 409, 413)},
            body="ChildResult", security=CALLBACK_AUTH, params=[_param("child_id", "path")])},
        "/api/v1/children/{child_id}/progress": {"post": _op(
            "A child job reports an attempt boundary (setup, coder or tests of attempt k of "
            "n) while it runs; it becomes an event of the session",
            {"202": _json("Status", "recorded"), **_errors(400, 401, 403, 404, 409, 413)},
            body="ChildProgress", security=CALLBACK_AUTH,
            params=[_param("child_id", "path")])},
        "/healthz": {"get": _op("Liveness and database check", {
            "200": _json("Status", "ok"), **_errors(503)}, security=[])},
        "/metrics": {"get": _op("Prometheus metrics", {"200": text}, security=[])},
        "/openapi.json": {"get": _op("This document", {"200": {"description": "OpenAPI"}},
                                     security=[])},
        "/": {"get": _op("Dashboard: sessions", {"200": html, **_errors(401)},
                         security=[{"basicToken": []}],
                         params=[_param("repository"), _param("status")])},
        "/sessions/{session_id}": {"get": _op(
            "Dashboard: one session", {"200": html, **_errors(401, 404)},
            security=[{"basicToken": []}], params=sid)},
    }


def document(server_url: str | None = None) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "ccs — Context Coding Sessions", "version": "1", "description": (
            f"Request bodies: at most CCS_MAX_BODY_BYTES (default 5 MiB; more is a 413) and "
            f"{MAX_DEPTH} levels of nesting (deeper is a 400). Context and component names "
            f"match {_NAME['pattern']}. A repository whose GitHub App installation is "
            "suspended or removed is refused with a 403 that says what to do.")},
        "servers": [{"url": server_url or "/"}],
        "paths": _paths(),
        "components": {"schemas": SCHEMAS, "securitySchemes": {
            "apiToken": {"type": "http", "scheme": "bearer",
                         "description": "CCS_API_TOKEN"},
            "actionsOidc": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                            "description": "GitHub Actions OIDC token, aud = CCS_PUBLIC_URL"},
            "childToken": {"type": "http", "scheme": "bearer",
                           "description": "per-child token (CCS_CALLBACK_AUTH=token)"},
            "basicToken": {"type": "http", "scheme": "basic",
                           "description": "any user name, CCS_API_TOKEN as the password"}}},
    }
