"""Render a session's tracking comment (pure: no GitHub, no database)."""

from __future__ import annotations

from typing import Any

from service.domain.spend import total_usage
from service.domain.states import ChildKind

MAX_BODY = 60_000  # GitHub refuses comments over 65,536 characters
MAX_MESSAGE = 600
ICONS = {"pending": "⏳", "dispatched": "🚀", "running": "🔄", "succeeded": "✅",
         "failed": "❌", "cancelled": "⛔", "timed_out": "⌛"}
HEADLINES = {"pending": "starting", "initializing": "creating the session branch",
             "running": "running", "validating": "validating", "finalizing": "finalizing",
             "complete": "complete ✅", "needs_attention": "needs attention ⚠️",
             "failed": "failed ❌", "cancelled": "cancelled ⛔"}
TERMINAL = ("succeeded", "failed", "cancelled", "timed_out")


def marker(session_id: str) -> str:
    """Return the hidden marker that identifies a session's tracking comment."""
    return f"<!-- ccs:session:{session_id} -->"


def _quiet(text: str, limit: int = MAX_MESSAGE) -> str:
    """Neutralise text from jobs: no @-mentions, no fence breaking, bounded length."""
    text = text.replace("@", "@\u200b").replace("```", "'''")
    return text if len(text) <= limit else text[:limit] + " …"


def child_line(child: Any) -> str:
    """Return one checklist line: status, attempts, tests and the job link."""
    done = "x" if child.status == "succeeded" else " "
    parts = [f"{ICONS.get(child.status, '')} {child.status}"]
    if child.attempts:
        parts.append(f"{child.attempts} attempt{'s' if child.attempts != 1 else ''}")
    ran = child.tests_passed + child.tests_failed + child.tests_errors
    if ran or child.tests_skipped:
        tests = f"{child.tests_passed}/{ran} tests passed"
        parts.append(tests)
    if child.run_url:
        parts.append(f"[job]({child.run_url})")
    return f"- [{done}] **{child.component}** — " + " · ".join(parts)


def verify_line(row: Any) -> str:
    """Return the checklist line of the merged-tree verify job (or the integration child)."""
    done = "x" if row.status == "succeeded" else " "
    link = f" · [job]({row.run_url})" if row.run_url else ""
    state = f"{ICONS.get(row.status, '')} {row.status}"
    if getattr(row, "kind", None) == ChildKind.INTEGRATION:
        rounds = f" · {row.attempts} round{'s' if row.attempts != 1 else ''}" if (
            row.attempts) else ""
        return (f"- [{done}] *integration on the merged tree (verify failed)* — "
                f"{state}{rounds}{link}")
    return f"- [{done}] *verify on the merged tree* — {state}{link}"


def wave_of(child: Any) -> int:
    """Return a component's dependency wave (DESIGN §3b), 0 when it needs nothing."""
    return int((getattr(child, "spec", None) or {}).get("wave") or 0)


def render_tracking_comment(session: Any, children: list[Any],
                            retry_command: str = "/ccs retry") -> str:
    """Return the comment body for a session and its children (components, then verify)."""
    def kind(child: Any) -> str:
        return getattr(child, "kind", ChildKind.COMPONENT)

    components = [c for c in children if kind(c) == ChildKind.COMPONENT]
    # Integration first: it ran on the tree the (failed) first verify judged.
    verify = ([c for c in children if kind(c) == ChildKind.INTEGRATION]
              + [c for c in children if kind(c) == ChildKind.VERIFY])
    done = sum(1 for c in components if c.status in TERMINAL)
    head = [marker(session.id),
            f"### ccs · `{session.context}` — {HEADLINES.get(session.status, session.status)}",
            "",
            f"Session `{session.id}` · branch `{session.branch}` · base `{session.base_ref}`"
            + (f" at `{session.base_sha[:12]}`" if session.base_sha else ""),
            "", f"**{done} of {len(components)} done**" + _spend(components), ""]
    verify_lines = [verify_line(row) for row in verify]
    tail = _ending(session, retry_command)
    budget = MAX_BODY - sum(len(x) + 1 for x in head + verify_lines + tail)
    return "\n".join(head + _fit(components, budget) + verify_lines + tail) + "\n"


def _spend(components: list[Any]) -> str:
    spent = total_usage(components)
    return f" · spent {spent.summary()}" if spent.spent else ""


def _ending(session: Any, retry_command: str) -> list[str]:
    if session.status == "complete":
        if session.pull_request_url:
            return ["", f"Pull request: {session.pull_request_url}"]
        return ["", f"Finished: branch `{session.branch}` is ready."]
    if session.status in ("needs_attention", "failed"):
        return ["", "<details open><summary>What needs attention</summary>", "", "```text",
                _quiet(session.message or "see the components above", MAX_BODY // 3), "```",
                "</details>", "",
                f"Fix what is named above, then comment `{retry_command}` to re-run only what "
                "failed."]
    if session.status == "cancelled":
        return ["", f"Cancelled. Comment `{retry_command}` to resume."]
    return []


def _fit(components: list[Any], budget: int) -> list[str]:
    """Return one line per component (under a heading per dependency wave when there are
    waves), or (for huge sessions) the unfinished ones and a count."""
    lines = [child_line(c) for c in components]
    if any(wave_of(c) for c in components):
        by_wave = sorted(zip(components, lines, strict=True), key=lambda pair: wave_of(pair[0]))
        grouped: list[str] = []
        for child, line in by_wave:
            heading = f"**Wave {wave_of(child) + 1}**"
            if heading not in grouped:
                grouped.append(heading)
            grouped.append(line)
        if sum(len(line) + 1 for line in grouped) <= budget:
            return grouped
    elif sum(len(line) + 1 for line in lines) <= budget:
        return lines
    kept, hidden, used = [], 0, 0
    for line, child in zip(lines, components, strict=False):
        if child.status == "succeeded" or used + len(line) + 1 > budget - 200:
            hidden += 1
            continue
        kept.append(line)
        used += len(line) + 1
    return [*kept, f"- … and {hidden} more (succeeded or not shown)"]
