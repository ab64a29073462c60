"""Progress on stderr: a live rich table on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from service.adapters.db.models import ChildRow, SessionRow
from service.domain.wire import total_usage, usage_of

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
            self.live.update(self._table(session, children), refresh=True)
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
    def _table(session: SessionRow, children: list[ChildRow]) -> Table:
        spent = total_usage(children)
        title = f"ccs {session.context} · {session.id} · {session.status}"
        table = Table(title=title + (f" · spent ${spent.cost_usd:,.2f}" if spent.spent else ""))
        for column in ("component", "status", "attempt", "tests", "spent"):
            table.add_column(column)
        for child in children:
            style = STATUS_STYLE.get(child.status, "")
            usage = usage_of(child)
            table.add_row(child.component, f"[{style}]{child.status}[/]" if style else
                          child.status, str(child.attempts or ""), child_tests(child),
                          f"${usage.cost_usd:,.2f}" if usage.spent else "")
        return table
