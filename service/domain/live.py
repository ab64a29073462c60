"""What a watcher knows of a running session, folded from its event stream (pure).

Every surface that shows a session live (the CLI table, `ccs status --watch`, the SSE
stream, the dashboard) reads events after the last id it saw and folds them here: the
phase and attempt of each child, since when, and which rows to read again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from service.domain.states import ChildStatus

PHASES = ("setup", "coder", "tests")


class Event(Protocol):
    """The fields of a stored event the fold reads."""

    id: int
    kind: str
    child_id: str | None
    status: str | None
    data: dict[str, Any] | None
    created_at: datetime


@dataclass
class ChildLive:
    """A child's phase (setup / coder / tests, '' when not running), attempt k of n, since."""

    phase: str = ""
    attempt: int = 0
    attempts: int = 0
    since: datetime | None = None  # when the phase began
    started: datetime | None = None  # when the child started running
    ended: datetime | None = None  # when it came to rest

    def to_json(self) -> dict[str, Any]:
        """Return the fields the API adds to a child while it is watched."""
        return {"phase": self.phase, "attempt": self.attempt, "attempts": self.attempts,
                "since": _time(self.since), "started": _time(self.started),
                "ended": _time(self.ended)}


@dataclass
class Changes:
    """What events changed: child id -> its last event id (in that order), and the last id
    of a session move (0: none)."""

    children: dict[str, int] = field(default_factory=dict)
    session: int = 0

    def __bool__(self) -> bool:
        return bool(self.session or self.children)

    def add(self, other: Changes) -> None:
        """Take in the changes of a later batch."""
        for child_id, event_id in other.children.items():
            self.children.pop(child_id, None)
            self.children[child_id] = event_id
        self.session = other.session or self.session


@dataclass
class LiveView:
    """The fold: per child what it is doing now, and the last event id seen."""

    last_id: int = 0
    children: dict[str, ChildLive] = field(default_factory=dict)

    def fold(self, events: Iterable[Event]) -> Changes:
        """Apply events in id order; return what they changed."""
        changes = Changes()
        for event in events:
            self.last_id = max(self.last_id, event.id)
            if event.kind == "session":
                changes.session = event.id
            elif event.child_id is not None:
                self._child(event)
                changes.children.pop(event.child_id, None)
                changes.children[event.child_id] = event.id
        return changes

    def of(self, child_id: str) -> ChildLive:
        """Return what is known of a child (nothing yet: an empty ChildLive)."""
        return self.children.get(child_id) or ChildLive()

    def _child(self, event: Event) -> None:
        live = self.children.setdefault(event.child_id or "", ChildLive())
        if event.kind == "progress" and event.data and event.data.get("phase") in PHASES:
            live.phase, live.since = event.data["phase"], event.created_at
            live.attempt = int(event.data.get("attempt") or live.attempt)
            live.attempts = int(event.data.get("attempts") or live.attempts)
            live.started = live.started or event.created_at
            return
        if event.kind != "child" or event.status is None:
            return
        status = ChildStatus(event.status)
        if status == ChildStatus.RUNNING:
            live.started, live.since = event.created_at, event.created_at
        elif status == ChildStatus.PENDING:  # a retry starts it afresh
            self.children[event.child_id or ""] = ChildLive()
        elif status.is_terminal:
            live.phase, live.ended = "", event.created_at


MOST_ATTEMPTS = 1000


def progress_data(body: Any) -> dict[str, Any] | None:
    """Return the event data an attempt boundary reported by a runner holds, or None when
    it is not one (it comes from inside a child's sandbox or a job: untrusted)."""
    if not isinstance(body, dict) or body.get("phase") not in PHASES:
        return None
    attempt, attempts = body.get("attempt", 0), body.get("attempts", 0)
    if not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MOST_ATTEMPTS
               for n in (attempt, attempts)):
        return None
    return {"phase": body["phase"], "attempt": attempt, "attempts": attempts}


def elapsed_seconds(live: ChildLive, now: datetime) -> float | None:
    """Return how long the child has run (until it rested), or None before it started."""
    if live.started is None:
        return None
    return seconds_between(live.started, live.ended or now)


def seconds_between(start: datetime, end: datetime) -> float:
    """Return end - start in seconds (≥ 0); a naive time is UTC (SQLite returns those)."""
    return max(0.0, (_aware(end) - _aware(start)).total_seconds())


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def short_duration(seconds: float | None) -> str:
    """Return 42s, 3m05s or 1h02m (blank for None)."""
    if seconds is None:
        return ""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
