"""Progress on stderr: a live rich table on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from service.adapters.db.models import ChildRow, SessionRow
from service.domain.spend import total_usage, usage_of

RESTED = ("succeeded", "failed", "cancelled", "timed_out")
SHOW_FIRST = {"running": 0, "dispatched": 1, "failed": 2, "timed_out": 2, "cancelled": 3,
              "pending": 4, "succeeded": 5}
STATUS_STYLE = {"succeeded": "green", "failed": "red", "running": "yellow",
                "dispatched": "cyan", "cancelled": "magenta", "timed_out": "red"}


def child_tests(child: ChildRow) -> str:
    """Return a short test summary for a child, or '' before it has one."""
    if child.status in ("pending", "dispatched", "running"):
        return ""
    text = f"{child.tests_passed} passed"
    if child.tests_failed or child.tests_errors:
        text += f", {child.tests_failed + child.tests_errors} failed"
    return text


class Progress:
    """Shows each child's status as it changes."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live: Live | None = None
        self._seen: dict[str, tuple] = {}
        if self.stream.isatty():
            self.live = Live(console=Console(file=self.stream), auto_refresh=False,
                             transient=False)
            self.live.start()

    def update(self, session: SessionRow, children: list[ChildRow]) -> None:
        """Render the latest state."""
        if self.live is not None:
            rows = max(5, self.live.console.size.height - 8)
            self.live.update(self._table(session, children, rows), refresh=True)
            return
        for child in children:
            state = (child.status, child.attempts)
            if self._seen.get(child.id) != state:
                self._seen[child.id] = state
                tests = child_tests(child)
                print(f"ccs: {child.component}: {child.status}"
                      + (f" after {child.attempts} attempt(s), {tests}" if tests else ""),
                      file=self.stream, flush=True)
        key = ("session", session.status)
        if self._seen.get(session.id) != key:
            self._seen[session.id] = key
            print(f"ccs: session {session.id}: {session.status}", file=self.stream, flush=True)

    def close(self) -> None:
        """Stop the live display."""
        if self.live is not None:
            self.live.stop()

    @staticmethod
    def _table(session: SessionRow, children: list[ChildRow], rows: int = 10**9) -> Table:
        spent = total_usage(children)
        done = sum(1 for c in children if c.status in RESTED)
        title = (f"ccs {session.context} · {session.id} · {session.status} · "
                 f"{done} of {len(children)} done")
        table = Table(title=title + (f" · spent ${spent.cost_usd:,.2f}" if spent.spent else ""))
        for column in ("component", "status", "attempt", "tests", "spent"):
            table.add_column(column)
        # Draw only what fits on the screen, what is moving first: a redraw then costs the
        # same at N = 20 and N = 1,000 (bench/progress_redraw.py).
        shown = sorted(children, key=lambda c: SHOW_FIRST.get(c.status, 9))[:rows]
        for child in shown:
            style = STATUS_STYLE.get(child.status, "")
            usage = usage_of(child)
            table.add_row(child.component, f"[{style}]{child.status}[/]" if style else
                          child.status, str(child.attempts or ""), child_tests(child),
                          f"${usage.cost_usd:,.2f}" if usage.spent else "")
        if len(children) > len(shown):
            table.add_row(f"… {len(children) - len(shown)} more", "", "", "", "")
        return table
