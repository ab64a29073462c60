"""GET / and GET /sessions/<id>: a read-only HTML view of sessions (API token required)."""

from __future__ import annotations

from flask import Blueprint, Response, render_template_string, request

from service.adapters.db.store import NotFound
from service.web.errors import error_response
from service.web.shapes import session_json, session_summary
from service.web.state import has_api_token, services

bp = Blueprint("dashboard", __name__)

_LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ccs{{ ' · ' + title if title }}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
.failed,.needs_attention,.timed_out,.cancelled{color:#b00}.complete,.succeeded{color:#070}
pre{white-space:pre-wrap;background:#f6f6f6;padding:8px}</style></head>
<body><h1><a href="{{ url_for('dashboard.index') }}">ccs</a>{{ ' · ' + title if title }}</h1>
{% block body %}{% endblock %}</body></html>"""

_INDEX = _LAYOUT.replace("{% block body %}{% endblock %}", """
<form method="get">repository <input name="repository" value="{{ repository or '' }}">
<button>filter</button></form>
<table><tr><th>session</th><th>repository</th><th>context</th><th>status</th><th>branch</th>
<th>created</th></tr>
{% for s in sessions %}<tr>
<td><a href="{{ url_for('dashboard.session_page', session_id=s.id) }}">{{ s.id }}</a></td>
<td>{{ s.repository }}</td><td>{{ s.context }}</td>
<td class="{{ s.status }}">{{ s.status }}</td><td>{{ s.branch }}</td>
<td>{{ s.created_at }}</td></tr>
{% else %}<tr><td colspan="6">no sessions yet</td></tr>{% endfor %}
</table>""")

_SESSION = _LAYOUT.replace("{% block body %}{% endblock %}", """
<p>{{ s.repository }} · context <b>{{ s.context }}</b> · <span class="{{ s.status }}">
{{ s.status }}</span> · branch <code>{{ s.branch }}</code> · base
<code>{{ (s.base_sha or '')[:12] }}</code>
{% if s.pull_request_url and s.pull_request_url.startswith(safe) %} ·
<a href="{{ s.pull_request_url }}">pull request</a>{% endif %}
</p><p>{{ s.progress.succeeded }} succeeded, {{ s.progress.failed }} failed,
{{ s.progress.running }} running, {{ s.progress.pending }} pending of {{ s.progress.total }}</p>
{% if s.message %}<pre>{{ s.message }}</pre>{% endif %}
<h2>Children</h2><table><tr><th>component</th><th>status</th><th>attempts</th><th>tests</th>
<th>commit</th><th>message</th></tr>
{% for c in s.children %}<tr><td>{{ c.component }}</td><td class="{{ c.status }}">
{% if c.run_url and c.run_url.startswith(safe) %}<a href="{{ c.run_url }}">{{ c.status }}</a>
{%- else %}{{ c.status }}{% endif %}
</td><td>{{ c.attempts }}</td><td>{{ c.tests.passed }} passed, {{ c.tests.failed }} failed</td>
<td><code>{{ (c.commit or '')[:12] }}</code></td><td>{{ c.message }}</td></tr>{% endfor %}
</table><h2>Log</h2><table><tr><th>at</th><th>step</th><th>result</th></tr>
{% for i in s.interactions %}<tr><td>{{ i.at }}</td><td>{{ i.step }}</td>
<td class="{{ 'ok' if i.ok else 'failed' }}">{{ i.result }}</td></tr>{% endfor %}</table>""")


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


@bp.get("/")
def index() -> str:
    """List the newest sessions."""
    repository = request.args.get("repository") or None
    rows = services().store.sessions(repository, limit=100)
    return render_template_string(_INDEX, title="", repository=repository,
                                  sessions=[session_summary(r) for r in rows])


@bp.get("/sessions/<session_id>")
def session_page(session_id: str) -> str | tuple[Response, int]:
    """Show one session."""
    store = services().store
    try:
        session = store.session(session_id)
    except NotFound:
        return error_response(404, "not_found", f"no session {session_id!r}")
    # Links come from job results: only http(s) ones become links (no javascript: URLs).
    return render_template_string(_SESSION, title=session.id, s=session_json(store, session),
                                  safe=("https://", "http://"))
