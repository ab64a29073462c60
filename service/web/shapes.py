"""The JSON shapes of sessions and children (DESIGN §5), shared by the API and the dashboard."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from service.adapters.db.models import ChildRow, InteractionRow, SessionRow
from service.adapters.db.store import Store
from service.domain.spend import total_usage, usage_of
from service.domain.states import ChildKind, ChildStatus

C = ChildStatus
FAILED = (C.FAILED, C.CANCELLED, C.TIMED_OUT)
RUNNING = (C.DISPATCHED, C.RUNNING)


def progress(children: list[ChildRow]) -> dict[str, int]:
    """Count children: failed includes cancelled and timed out; running includes dispatched."""
    counts = {"total": len(children), "succeeded": 0, "failed": 0, "running": 0, "pending": 0}
    for child in children:
        if child.status == C.SUCCEEDED:
            counts["succeeded"] += 1
        elif child.status in FAILED:
            counts["failed"] += 1
        elif child.status in RUNNING:
            counts["running"] += 1
        else:
            counts["pending"] += 1
    return counts


def child_json(child: ChildRow) -> dict[str, Any]:
    """Return one child as the API shows it."""
    return {
        "id": child.id, "component": child.component, "status": child.status,
        "attempts": child.attempts, "commit": child.commit,
        "tests": {"passed": child.tests_passed, "failed": child.tests_failed,
                  "errors": child.tests_errors, "skipped": child.tests_skipped},
        "run_url": child.run_url, "message": child.message,
        "usage": usage_of(child).to_json(),
        "wave": int((child.spec or {}).get("wave") or 0),  # DESIGN §3b
    }


def integration_json(store: Store, session: SessionRow) -> dict[str, Any] | None:
    """Return what the integration round after a failing verify did (DESIGN §3b), or None."""
    for row in store.children(session.id, kind=ChildKind.INTEGRATION):
        return {**child_json(row), "changed_files": list(row.changed_files or [])}
    return None


def interaction_json(row: InteractionRow) -> dict[str, Any]:
    """Return one interaction-log entry."""
    return {"step": row.step, "command": row.command, "result": row.result, "ok": row.ok,
            "at": _time(row.created_at)}


def session_summary(session: SessionRow) -> dict[str, Any]:
    """Return the fields of a session that need no child rows (list entries)."""
    return {
        "id": session.id, "repository": session.repository, "context": session.context,
        "status": session.status, "branch": session.branch, "base_sha": session.base_sha,
        "base_ref": session.base_ref, "issue": session.issue_number, "source": session.source,
        "pull_request_url": session.pull_request_url, "message": session.message,
        "created_at": _time(session.created_at), "updated_at": _time(session.updated_at),
    }


def session_json(store: Store, session: SessionRow) -> dict[str, Any]:
    """Return the full session: summary, progress, children and the interaction log."""
    children = store.children(session.id)
    body = session_summary(session)
    body["progress"] = progress(children)
    body["usage"] = total_usage(children).to_json()
    body["budget"] = session.budget
    body["children"] = [child_json(c) for c in children]
    body["integration"] = integration_json(store, session)
    body["interactions"] = [interaction_json(i) for i in store.interactions(session.id)]
    return body


def encode_cursor(session: SessionRow) -> str:
    """Return an opaque cursor pointing after `session` in newest-first order."""
    raw = json.dumps([session.created_at.isoformat(), session.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Return the (created_at, id) a cursor holds, or raise ValueError."""
    padded = cursor + "=" * (-len(cursor) % 4)
    created, ident = json.loads(base64.urlsafe_b64decode(padded.encode()))
    if not isinstance(ident, str):
        raise ValueError("bad cursor")
    return datetime.fromisoformat(created), ident


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
