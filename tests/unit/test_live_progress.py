"""The fold of a session's events into what a watcher shows, and the CLI table drawn from it."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from service.cli.progress import Progress
from service.domain.live import LiveView, elapsed_seconds, short_duration
from tests.fakes.memory import Event

T0 = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def story() -> list[Event]:
    return [Event(1, "s", "session", status="running", created_at=at(0)),
            Event(2, "s", "child", "c1", "dispatched", created_at=at(0)),
            Event(3, "s", "child", "c1", "running", created_at=at(1)),
            Event(4, "s", "progress", "c1", data={"phase": "coder", "attempt": 1,
                                                  "attempts": 3}, created_at=at(2)),
            Event(5, "s", "progress", "c1", data={"phase": "tests", "attempt": 1,
                                                  "attempts": 3}, created_at=at(30)),
            Event(6, "s", "child", "c2", "dispatched", created_at=at(31)),
            Event(7, "s", "progress", "c1", data={"phase": "coder", "attempt": 2,
                                                  "attempts": 3}, created_at=at(40))]


def test_the_fold_knows_each_childs_phase_attempt_and_start() -> None:
    view = LiveView()
    changes = view.fold(story())
    assert changes.session == 1
    assert list(changes.children.items()) == [("c2", 6), ("c1", 7)]  # in the order they moved
    live = view.of("c1")
    assert (live.phase, live.attempt, live.attempts, live.since) == ("coder", 2, 3, at(40))
    assert elapsed_seconds(live, at(100)) == 99
    assert view.last_id == 7
    view.fold([Event(8, "s", "child", "c1", "succeeded", created_at=at(120))])
    assert view.of("c1").phase == "" and elapsed_seconds(view.of("c1"), at(999)) == 119
    view.fold([Event(9, "s", "child", "c1", "pending", created_at=at(200))])  # a retry
    assert view.of("c1").started is None
    assert [short_duration(s) for s in (None, 5, 185, 7300)] == ["", "5s", "3m05s", "2h01m"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def child(ident: str, component: str, status: str, **extra) -> SimpleNamespace:
    fields = dict(attempts=0, tests_passed=0, tests_failed=0, tests_errors=0, tests_skipped=0,
                  cost_usd=0.0, input_tokens=0, output_tokens=0)
    return SimpleNamespace(id=ident, component=component, status=status, **{**fields, **extra})


def test_the_table_shows_phase_attempt_elapsed_and_a_header_with_k_of_n_and_spend() -> None:
    view = LiveView()
    view.fold(story())
    session = SimpleNamespace(id="s", context="shop", status="running", spawned_at=at(0),
                              created_at=at(0))
    rows = [child("c1", "hasher", "running"),
            child("c2", "repo", "succeeded", attempts=2, tests_passed=4, cost_usd=0.5)]
    stream = Terminal()
    progress = Progress(stream)
    progress.update(session, rows, view, now=at(65))
    progress.close()
    drawn = stream.getvalue()
    for text in ("1 of 2 done", "1m05s", "spent $0.50", "phase", "coder", "2/3", "1m04s",
                 "4 passed"):
        assert text in drawn, (text, drawn)


def test_plain_lines_say_each_phase_once() -> None:
    view = LiveView()
    stream = io.StringIO()
    progress = Progress(stream)
    session = SimpleNamespace(id="s", context="shop", status="running", spawned_at=at(0))
    rows = [child("c1", "hasher", "running")]
    for event in story():
        view.fold([event])
        progress.update(session, rows, view, now=at(50))
    assert stream.getvalue().splitlines() == [
        "ccs: hasher: running", "ccs: session s: running", "ccs: hasher: attempt 1/3: coder",
        "ccs: hasher: attempt 1/3: tests", "ccs: hasher: attempt 2/3: coder"]
