"""GET /openapi.json: an OpenAPI 3.1 description of every route."""

from __future__ import annotations

from typing import Any

from service.domain.states import ChildStatus, SessionStatus

_STR, _INT, _BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
_NSTR = {"type": ["string", "null"]}
_NINT = {"type": ["integer", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties,
            "required": required if required is not None else list(properties)}


_TESTS = _obj({"passed": _INT, "failed": _INT, "errors": _INT, "skipped": _INT})
SCHEMAS: dict[str, Any] = {
    "Error": _obj({"error": _obj({"code": _STR, "message": _STR})}),
    "SessionStatus": {"type": "string", "enum": [s.value for s in SessionStatus]},
    "ChildStatus": {"type": "string", "enum": [s.value for s in ChildStatus]},
    "Child": _obj({"id": _STR, "component": _STR, "status": _ref("ChildStatus"),
                   "attempts": _INT, "commit": _NSTR, "tests": _TESTS, "run_url": _NSTR,
                   "message": _STR}),
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
        "interactions": {"type": "array", "items": _ref("Interaction")}})]},
    "SessionList": _obj({"sessions": {"type": "array", "items": _ref("SessionSummary")},
                         "next": _NSTR}),
    "StartSession": {**_obj({
        "repository": {"type": "string", "pattern": "^[^/]+/[^/]+$"},
        "context": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
        "components": {"type": "array", "items": _STR}, "base": _STR, "issue": _INT},
        ["repository", "context"]), "additionalProperties": False},
    "ChildResult": _obj({
        "status": {"type": "string", "enum": ["succeeded", "failed"]}, "commit": _NSTR,
        "branch": _NSTR, "attempts": _INT, "tests": _TESTS,
        "changed_files": {"type": "array", "items": _STR}, "message": _STR,
        "log_url": _STR, "run_id": _INT, "job_id": _INT}, ["status"]),
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


def _param(name: str, where: str = "query", required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path",
            "schema": _INT if name == "limit" else _STR}


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
                                            **_errors(400, 401, 403, 413, 422)},
                        body="StartSession", security=START_AUTH),
            "get": _op("List sessions, newest first", {
                "200": _json("SessionList", "one page"), **_errors(400, 401)},
                security=TOKEN, params=[_param(n) for n in
                                        ("repository", "status", "cursor", "limit")])},
        "/api/v1/sessions/{session_id}": {"get": _op(
            "Show a session", {"200": _json("Session", "the session"), **_errors(401, 404)},
            security=TOKEN, params=sid)},
        "/api/v1/sessions/{session_id}/retry": {"post": _op(
            "Retry what failed", {"202": _json("Status", "queued"), **_errors(401, 404, 409)},
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
        "/healthz": {"get": _op("Liveness and database check", {
            "200": _json("Status", "ok"), **_errors(503)}, security=[])},
        "/metrics": {"get": _op("Prometheus metrics", {"200": text}, security=[])},
        "/openapi.json": {"get": _op("This document", {"200": {"description": "OpenAPI"}},
                                     security=[])},
        "/": {"get": _op("Dashboard: sessions", {"200": html, **_errors(401)},
                         security=[{"basicToken": []}], params=[_param("repository")])},
        "/sessions/{session_id}": {"get": _op(
            "Dashboard: one session", {"200": html, **_errors(401, 404)},
            security=[{"basicToken": []}], params=sid)},
    }


def document(server_url: str | None = None) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "ccs — Context Coding Sessions", "version": "1"},
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
