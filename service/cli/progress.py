"""Progress on stderr: a live rich table on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from service.domain.live import (
    ChildLive,
    LiveView,
    elapsed_seconds,
    seconds_between,
    short_duration,
)
from service.domain.spend import usage_of

if TYPE_CHECKING:
    from rich.live import Live
    from rich.text import Text

RESTED = ("succeeded", "failed", "cancelled", "timed_out")
SHOW_FIRST = {"running": 0, "dispatched": 1, "failed": 2, "timed_out": 2, "cancelled": 3,
              "pending": 4, "succeeded": 5}
STATUS_STYLE = {"succeeded": "green", "failed": "red", "running": "yellow",
                "dispatched": "cyan", "cancelled": "magenta", "timed_out": "red"}
COLUMNS = ("component", "status", "phase", "attempt", "elapsed", "tests", "spent")
NOTHING = ChildLive()


def child_tests(child: Any) -> str:
    """Return a short test summary for a child, or '' before it has one."""
    if child.status in ("pending", "dispatched", "running"):
        return ""
    text = f"{child.tests_passed} passed"
    if child.tests_failed or child.tests_errors:
        text += f", {child.tests_failed + child.tests_errors} failed"
    return text


def attempt_text(child: Any, live: ChildLive) -> str:
    """Return "k/n" while attempts are known, else the attempts a result reported."""
    if live.attempt and live.attempts and child.status not in RESTED:
        return f"{live.attempt}/{live.attempts}"
    return str(child.attempts or "")


class Progress:
    """Shows each child's status, phase and attempt as they change."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live: Live | None = None
        self._seen: dict[str, tuple] = {}  # child id -> (status, attempts) last said
        self._phases: dict[str, tuple] = {}  # child id -> (phase, attempt) last said
        if self.stream.isatty():
            # rich (~0.05 s to import) only draws the table: plain lines need none of it.
            from rich.console import Console
            from rich.live import Live

            self.live = Live(console=Console(file=self.stream), auto_refresh=False,
                             transient=False)
            self.live.start()

    def update(self, session: Any, children: list[Any], view: LiveView | None = None,
               now: datetime | None = None) -> None:
        """Render the latest state (the live table, or a line per change)."""
        view = view or LiveView()
        now = now or datetime.now(UTC)
        if self.live is not None:
            rows = max(5, self.live.console.size.height - 8)
            self.live.update(self._table(session, children, view, now, rows), refresh=True)
            return
        for child in children:
            live = view.children.get(child.id, NOTHING)
            state = (child.status, child.attempts)
            if self._seen.get(child.id) != state:
                self._seen[child.id] = state
                self._say_status(child)
            phase = (live.phase, live.attempt)
            if live.phase and child.status not in RESTED and self._phases.get(child.id) != phase:
                self._phases[child.id] = phase
                detail = f"attempt {live.attempt}/{live.attempts}: " if live.attempt else ""
                print(f"ccs: {child.component}: {detail}{live.phase}", file=self.stream,
                      flush=True)
        key = ("session", session.status)
        if self._seen.get(session.id) != key:
            self._seen[session.id] = key
            print(f"ccs: session {session.id}: {session.status}", file=self.stream, flush=True)

    def _say_status(self, child: Any) -> None:
        tests = child_tests(child)
        print(f"ccs: {child.component}: {child.status}"
              + (f" after {child.attempts} attempt(s), {tests}" if tests else ""),
              file=self.stream, flush=True)

    def close(self) -> None:
        """Stop the live display (the summary is the caller's, printed once)."""
        if self.live is not None:
            self.live.stop()

    @staticmethod
    def header(session: Any, children: list[Any], now: datetime) -> str:
        """Return the title: context, id, status, k of n done, elapsed and spend."""
        counts = Counter(child.status for child in children)
        done = sum(counts[status] for status in RESTED)
        began = getattr(session, "spawned_at", None) or getattr(session, "created_at", None)
        title = (f"ccs {session.context} · {session.id} · {session.status} · "
                 f"{done} of {len(children)} done")
        if began is not None:
            title += f" · {short_duration(seconds_between(began, now))}"
        # A plain sum: building a Usage per child made this the costliest part at N = 1,000.
        spent = sum(getattr(child, "cost_usd", 0.0) or 0.0 for child in children)
        return title + (f" · spent ${spent:,.2f}" if spent else "")

    @classmethod
    def _table(cls, session: Any, children: list[Any], view: LiveView, now: datetime,
               rows: int = 10**9) -> Text:
        """Return the frame: the header, then one aligned row per child that fits."""
        # Draw only what fits on the screen, what is moving first: a redraw then costs the
        # same at N = 20 and N = 1,000 (bench/progress_redraw.py). One Text of aligned
        # columns, not a rich Table: measuring every cell of a Table cost 3x as much.
        shown = sorted(children, key=lambda c: SHOW_FIRST.get(c.status, 9))[:rows]
        width = min(32, max([len("component")] + [len(c.component) for c in shown]))
        from rich.text import Text

        frame = Text(no_wrap=True, overflow="crop")
        frame.append(cls.header(session, children, now) + "\n", style="bold")
        frame.append(f"{'component':<{width}}  {'status':<10}{_rest(*COLUMNS[2:])}\n",
                     style="bold underline")
        for child in shown:
            live = view.children.get(child.id, NOTHING)
            usage = usage_of(child)
            frame.append(f"{child.component[:width]:<{width}}  ")
            frame.append(f"{child.status:<10}", style=STATUS_STYLE.get(child.status, ""))
            frame.append(_rest(live.phase if child.status not in RESTED else "",
                               attempt_text(child, live),
                               short_duration(elapsed_seconds(live, now)), child_tests(child),
                               f"${usage.cost_usd:,.2f}" if usage.spent else "") + "\n")
        if len(children) > len(shown):
            frame.append(f"… {len(children) - len(shown)} more\n", style="dim")
        return frame


def _rest(phase: str, attempt: str, elapsed: str, tests: str, spent: str) -> str:
    """Return the columns after component and status, aligned under the header."""
    return f" {phase:<6} {attempt:>7} {elapsed:>7}  {tests:<18} {spent:>8}".rstrip()
