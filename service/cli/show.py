"""What the local commands print: the DESIGN §4 JSON object and its human summary.

Stdlib and the pure domain only, so `ccs status` can print without the orchestrator.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import Any

from service.cli import EXIT_BAD_INPUT
from service.domain.spend import total_usage, usage_of
from service.domain.states import ChildKind

INTEGRATION = ChildKind.INTEGRATION.value


def session_body(session: Any, rows: Iterable[Any]) -> dict[str, Any]:
    """Return the DESIGN §4 JSON object for a session (`usage` where anything was spent)
    from its component children's rows and its integration child's, if any."""
    rows = list(rows)
    children = [row for row in rows if row.kind != INTEGRATION]
    body: dict[str, Any] = {
        "session": session.id, "status": session.status, "branch": session.branch,
        "commit": session.final_commit, "children": [], "message": session.message,
    }
    for child in children:
        entry: dict[str, Any] = {
            "component": child.component, "status": child.status, "attempts": child.attempts,
            "message": child.message, "wave": int((child.spec or {}).get("wave") or 0),
            "tests": {"passed": child.tests_passed, "failed": child.tests_failed,
                      "errors": child.tests_errors, "skipped": child.tests_skipped}}
        if usage_of(child).spent:
            entry["usage"] = usage_of(child).to_json()
        body["children"].append(entry)
    total = total_usage(children)
    if total.spent:
        body["usage"] = total.to_json()
    for row in rows:
        if row.kind == INTEGRATION:
            # DESIGN §3b: what the integration round after a failing verify did.
            body["integration"] = {"status": row.status, "attempts": row.attempts,
                                   "message": row.message,
                                   "changed_files": list(row.changed_files or [])}
    return body


def session_list(sessions: Iterable[Any]) -> dict[str, Any]:
    """Return `ccs status --json` without a session id: the repository's sessions."""
    return {"sessions": [{"session": s.id, "context": s.context, "status": s.status,
                          "branch": s.branch, "created_at": s.created_at.isoformat()}
                         for s in sessions]}


def describe_list(body: dict[str, Any]) -> str:
    """Return the human listing of `session_list`."""
    return "\n".join(f"{b['session']}  {b['status']:<16} {b['context']:<20} {b['branch']}"
                     for b in body["sessions"]) or "no sessions in this repository"


def describe(body: dict[str, Any]) -> str:
    """Return the human summary printed at the end of a command."""
    lines = [f"session {body['session']}: {body['status']}  (branch {body['branch']})"]
    for child in body.get("children", []):
        tests = child["tests"]
        lines.append(f"  {child['component']:<24} {child['status']:<10} "
                     f"attempts={child['attempts']} tests={tests['passed']} passed"
                     + (f", {tests['failed'] + tests['errors']} failed"
                        if tests["failed"] or tests["errors"] else ""))
    integration = body.get("integration")
    if integration:
        changed = ", ".join(integration["changed_files"]) or "nothing"
        lines.append(f"  {'integration':<24} {integration['status']:<10} "
                     f"attempts={integration['attempts']} changed {changed}")
    if body.get("usage"):
        spent = body["usage"]
        lines.append(f"  spent ${spent['cost_usd']:,.2f} · {spent['input_tokens']:,} in / "
                     f"{spent['output_tokens']:,} out tokens")
    if body.get("message"):
        lines.append(body["message"])
    return "\n".join(lines)


def print_body(args: argparse.Namespace, body: dict[str, Any], human: str) -> None:
    """Print the JSON object (with --json, the summary going to stderr) or the summary."""
    if getattr(args, "json", False):
        if not getattr(args, "no_summary", False):
            print(human, file=sys.stderr)
        print(json.dumps(body, indent=2))
    else:
        print(human)


def reject(args: argparse.Namespace, message: str) -> int:
    """Print why the command was refused (and the rejected JSON object); return exit 2."""
    print(f"ccs: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"session": None, "status": "rejected", "message": message}))
    return EXIT_BAD_INPUT
