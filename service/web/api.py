"""REST API v1 (DESIGN §5): start, list, show, retry and cancel sessions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request, url_for

from service.adapters.db.store import NotFound
from service.auth.api_token import check_bearer
from service.config.log_format import bind_log_context
from service.domain.commands import StartSession
from service.domain.names import is_repository
from service.domain.progress import cancel_refusal, retry_refusal
from service.domain.states import SessionStatus
from service.web.bodies import parse_json
from service.web.errors import ApiError
from service.web.shapes import decode_cursor, encode_cursor, session_json, session_summary
from service.web.state import enqueue, require_api_token, services, verify_oidc

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_LIMIT = 100
START_FIELDS = {"repository": str, "context": str, "components": list, "base": str,
                "issue": int}


@bp.post("/sessions")
def create_session():
    """Record a session (201) and queue its Initialize step."""
    body = _start_body(parse_json(request.get_data(cache=True)) if request.data else None)
    _authorize_start(body["repository"])
    s = services()
    _refuse_if_uninstalled(body["repository"])
    command = StartSession(repository=body["repository"], context=body["context"],
                           components=tuple(body.get("components") or ()),
                           base=body.get("base"), issue=body.get("issue"), source="api")
    # Recorded here (pending); Initialize runs in the queue, so no slow step in a request.
    session = s.bus(command.repository, deferred=True).handle(command)
    response = jsonify(session_json(s.store, session))
    response.headers["Location"] = url_for("api.show_session", session_id=session.id)
    return response, 201


def _start_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "send a JSON object: {\"repository\": \"owner/name\", "
                                        "\"context\": \"...\"}")
    unknown = sorted(set(body) - set(START_FIELDS))
    if unknown:
        raise ApiError(400, "unknown_field", f"unknown field(s): {', '.join(unknown)}")
    for name, kind in START_FIELDS.items():
        value = body.get(name)
        if value is None and name in ("repository", "context"):
            raise ApiError(400, "missing_field", f"field {name!r} is required")
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise ApiError(400, "bad_field", f"field {name!r} must be a {kind.__name__}")
    if not is_repository(body["repository"]):
        raise ApiError(400, "bad_field", "field 'repository' must be owner/name as GitHub "
                                         "spells it (letters, digits, '-', and '.', '_' in "
                                         "the name)")
    if not all(isinstance(c, str) for c in body.get("components") or []):
        raise ApiError(400, "bad_field", "field 'components' must be a list of names")
    return body


def _authorize_start(repository: str) -> None:
    """Allow the API token, or an Actions OIDC token from `repository` itself."""
    config = services().config
    if check_bearer(request.headers.get("Authorization"), config.api_token):
        return
    claims = verify_oidc()
    if claims.repository.lower() != repository.lower():
        raise ApiError(403, "wrong_repository",
                       f"the token is for {claims.repository}, not {repository}")


@bp.get("/sessions")
def list_sessions():
    """List sessions newest first, a page at a time."""
    require_api_token()
    args = request.args
    status = args.get("status") or None
    if status is not None and status not in {s.value for s in SessionStatus}:
        raise ApiError(400, "bad_status", f"unknown status {status!r}")
    try:
        limit = int(args.get("limit", 50))
        before = decode_cursor(args["cursor"]) if args.get("cursor") else None
    except (ValueError, TypeError):
        raise ApiError(400, "bad_query", "limit must be a number and cursor one we gave") \
            from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, "bad_query", f"limit must be between 1 and {MAX_LIMIT}")
    rows = services().store.sessions(args.get("repository") or None, status, limit + 1, before)
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify({"sessions": [session_summary(r) for r in rows],
                    "next": encode_cursor(rows[-1]) if more else None})


@bp.get("/sessions/<session_id>")
def show_session(session_id: str):
    """Show one session with its progress, children and interaction log."""
    require_api_token()
    store = services().store
    return jsonify(session_json(store, _session(session_id)))


@bp.post("/sessions/<session_id>/retry")
def retry_session(session_id: str):
    """Queue a retry of what failed (409 while the session is still moving)."""
    require_api_token()
    session = _session(session_id)
    _refuse_if_uninstalled(session.repository, session.installation_id)
    refusal = retry_refusal(session.status)
    if refusal == "complete":
        raise ApiError(409, "already_complete", f"session {session_id} is complete")
    if refusal == "busy":
        raise ApiError(409, "session_busy", f"session {session_id} is still {session.status}; "
                                            "wait for it to finish or cancel it first")
    enqueue("retry", session.id, session.repository)
    return jsonify({"status": "queued", "session": session.id}), 202


@bp.post("/sessions/<session_id>/cancel")
def cancel_session(session_id: str):
    """Queue a cancel (409 when the session already finished)."""
    require_api_token()
    session = _session(session_id)
    if cancel_refusal(session.status):
        raise ApiError(409, "already_finished", f"session {session_id} is {session.status}")
    enqueue("cancel", session.id, session.repository)
    return jsonify({"status": "queued", "session": session.id}), 202


def _refuse_if_uninstalled(repository: str, installation_id: int | None = None) -> None:
    """403 with the reason when the repository's App installation is suspended or removed."""
    refusal = services().store.installation_refusal(repository, installation_id)
    if refusal is not None:
        code = "installation_suspended" if "suspended" in refusal else "installation_removed"
        raise ApiError(403, code, refusal)


def _session(session_id: str):
    bind_log_context(session=session_id)
    try:
        return services().store.session(session_id)
    except NotFound:
        raise ApiError(404, "not_found", f"no session {session_id!r}") from None
