"""Redraw cost per tick of the CLI's progress table on a terminal, against N children.

    python bench/progress_redraw.py [--sizes 20,200,1000] [--pairs 5] [--ticks 10]
    python bench/progress_redraw.py --quick      # N=20, 2 pairs, a second

Subject: the CLI's own `Progress(stream).update(session, children, view)` (found in
`service/progress.py`, or under `service/cli/` once it moves there) with a stream that
says it is a terminal, so it draws its live table as `ccs run` does on a TTY. The rows are
plain objects with the attributes the table reads, and the view is the fold of the
session's events (phase, attempt k/n, since when: `service/domain/live.py`), so no
database is involved; each tick one more child changes status and phase, as between two
polls of a running session.

Baseline: what any redraw of a terminal-sized view must do at least — count the children
by status and write one frame of the terminal's height (a summary line and one line per
visible child), built with plain string formatting. It is O(N) for the counts and O(height)
for the text, which is the shape the goal asks for.

Figures: milliseconds per tick (goal < 5 ms, flat in N) and the ratio to the baseline.
Writes results/progress_redraw.{json,md,png}.
"""

from __future__ import annotations

import importlib
import io
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from _common import (  # noqa: E402 - bench/ is put on the path just above
    Figures,
    arguments,
    interleave,
    pairs_of,
    report,
    should_write,
    sizes_of,
)

GOAL = "< 5 ms per tick, flat in N"
COLUMNS, LINES = 120, 40
STATUSES = ("pending", "running", "succeeded")
PROGRESS_MODULES = ("service.progress", "service.cli.progress")


class Terminal(io.StringIO):
    """An in-memory stream that says it is a terminal, emptied after every frame."""

    def isatty(self) -> bool:
        """Claim to be a TTY so the progress view draws its live table."""
        return True

    def drain(self) -> int:
        """Forget what was written; return how many characters that was."""
        written = self.tell()
        self.seek(0)
        self.truncate()
        return written


def progress_class() -> type:
    """Return the CLI's Progress class from wherever it lives now."""
    for name in PROGRESS_MODULES:
        try:
            return importlib.import_module(name).Progress
        except (ImportError, AttributeError):
            continue
    raise SystemExit(f"no Progress class in {', '.join(PROGRESS_MODULES)}: update "
                     "PROGRESS_MODULES in bench/progress_redraw.py to where it moved")


def live_view() -> Any:
    """Return an empty fold of the event stream (service/domain/live.py)."""
    return importlib.import_module("service.domain.live").LiveView()


def fake_rows(n: int) -> tuple[Any, list[Any]]:
    """Return a running session and N children, most pending, as the table reads them."""
    session = SimpleNamespace(id="bench0000", context="bench", status="running",
                              spawned_at=datetime.now(UTC), created_at=datetime.now(UTC))
    children = [SimpleNamespace(id=f"child{i:05d}", component=f"c{i:04d}", status="pending",
                                attempts=0, tests_passed=0, tests_failed=0, tests_errors=0,
                                tests_skipped=0, cost_usd=0.0, input_tokens=0,
                                output_tokens=0) for i in range(n)]
    return session, children


def advance(children: list[Any], tick: int, view: Any = None) -> None:
    """Move one child a step on (pending → running → succeeded), as between two polls;
    a running child is in the coder phase of attempt 1 of 3 (one progress event)."""
    child = children[(tick // 2) % len(children)]
    child.status = STATUSES[min(STATUSES.index(child.status) + 1, len(STATUSES) - 1)]
    child.attempts, child.tests_passed = 1, int(child.status == "succeeded")
    if view is not None:
        phase = {"running": "coder"}.get(child.status)
        view.fold([SimpleNamespace(
            id=tick + 1, kind="progress" if phase else "child", child_id=child.id,
            status=None if phase else child.status, created_at=datetime.now(UTC),
            data={"phase": phase, "attempt": 1, "attempts": 3} if phase else None)])


def subject_run(n: int, ticks: int) -> Figures:
    """Time `ticks` redraws by the CLI's Progress on a fake terminal."""
    session, children = fake_rows(n)
    stream = Terminal()
    progress = progress_class()(stream)
    view = live_view()
    drawn, started = 0, time.perf_counter()
    for tick in range(ticks):
        advance(children, tick, view)
        progress.update(session, children, view)
        drawn += stream.drain()
    elapsed = time.perf_counter() - started
    progress.close()
    if drawn < ticks * len(children[0].component):
        raise RuntimeError("Progress drew (almost) nothing on a terminal: is the live "
                           "table still drawn when the stream is a TTY?")
    return {"seconds": elapsed, "ms_per_tick": 1000 * elapsed / ticks}


def frame(session: Any, children: list[Any]) -> str:
    """Return one terminal-sized frame: a summary line and the first visible children."""
    counts = Counter(child.status for child in children)
    summary = " · ".join(f"{status} {count}" for status, count in sorted(counts.items()))
    lines = [f"ccs {session.context} · {session.id} · {session.status} · {summary}"]
    lines += [f"{c.component:<24} {c.status:<10} {c.attempts or '':>3} {c.tests_passed}"
              for c in children[:LINES - 2]]
    return "\x1b[H" + "\n".join(line[:COLUMNS] for line in lines) + "\n"


def baseline_run(n: int, ticks: int) -> Figures:
    """Time `ticks` redraws of a terminal-sized frame built by hand."""
    session, children = fake_rows(n)
    stream = Terminal()
    started = time.perf_counter()
    for tick in range(ticks):
        advance(children, tick)
        stream.write(frame(session, children))
        stream.flush()
        stream.drain()
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "ms_per_tick": 1000 * elapsed / ticks}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = arguments(__doc__.splitlines()[0], "20,200,1000", "20")
    parser.add_argument("--ticks", type=int, default=10, help="redraws per run (10)")
    args = parser.parse_args(argv)
    # Rich sizes its console from these; fix them so every run draws the same frame.
    os.environ.update(COLUMNS=str(COLUMNS), LINES=str(LINES), TERM="xterm-256color")
    ticks = 5 if args.quick else max(1, args.ticks)
    comparisons = [interleave("redraw", n, lambda n=n: subject_run(n, ticks),
                              lambda n=n: baseline_run(n, ticks), pairs=pairs_of(args),
                              metric="ms_per_tick") for n in sizes_of(args)]
    if should_write(args):
        report("progress_redraw", "CLI progress redraw per tick vs a hand-built frame",
               comparisons, goal=GOAL, ylabel="ms per tick", unit="ms",
               extra={"ticks": ticks, "columns": COLUMNS, "lines": LINES},
               notes=f"{ticks} ticks per run, terminal {COLUMNS}x{LINES}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
