"""A queue that keeps what the web layer enqueues, for tests that check what was handed off."""

from __future__ import annotations

from typing import Any


class RecordingQueue:
    """Keeps enqueued tasks without running them (tests of what the web layer enqueues)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def enqueue(self, name: str, *args: Any) -> None:
        """Remember the task."""
        self.calls.append((name, args))
