"""GET / and GET /sessions/<id>: the dashboard (API token as the Basic-auth password).

The session page is drawn once on the server and then kept up to date by static/session.js
from the session's event stream; a strict Content-Security-Policy allows only this origin's
script and style files (nothing inline).
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, render_template, request

from service.adapters.db.store import NotFound
from service.domain.live import seconds_between, short_duration
from service.domain.progress import rested
from service.domain.states import SessionStatus
from service.web.errors import error_response
from service.web.shapes import session_json, session_summary
from service.web.state import has_api_token, services

bp = Blueprint("dashboard", __name__)
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SAFE_LINKS = ("https://", "http://")  # links from job results: never javascript: URLs


@bp.before_request
def _require_token():
    # Basic auth (any user name, the API token as password) so a browser can just ask;
    # no cookies, so nothing here needs CSRF protection.
    if services().config.api_token is None or not has_api_token():
        response, status = error_response(401, "unauthorized", "sign in with any user name "
                                          "and CCS_API_TOKEN as the password")
        response.headers["WWW-Authenticate"] = 'Basic realm="ccs", charset="UTF-8"'
        return response, status
    return None


@bp.after_request
def _strict_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/")
def index() -> str:
    """List the newest sessions with status, progress and age; filter by repository and
    status."""
    repository = request.args.get("repository", "").strip() or None
    status = request.args.get("status") or None
    statuses = [s.value for s in SessionStatus]
    store = services().store
    rows = store.sessions(repository, status if status in statuses else None, limit=100)
    counts = store.child_counts(r.id for r in rows)
    now = datetime.now(UTC)
    sessions = []
    for row in rows:
        by_status = counts.get(row.id, {})
        sessions.append({**session_summary(row), "total": sum(by_status.values()),
                         "done": rested(by_status),
                         "age": short_duration(seconds_between(row.created_at, now))})
    return render_template("index.html", title="", repository=repository, status=status,
                           statuses=statuses, sessions=sessions)


@bp.get("/sessions/<session_id>")
def session_page(session_id: str) -> str | tuple[Response, int]:
    """Show one session; the page follows its event stream from there."""
    store = services().store
    try:
        session = store.session(session_id)
    except NotFound:
        return error_response(404, "not_found", f"no session {session_id!r}")
    return render_template("session.html", title=session.id, s=session_json(store, session),
                           safe=SAFE_LINKS)
