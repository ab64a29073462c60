"""Attempt boundaries as JSON lines: the runner appends one per phase, the local executor
tails the file and records each as an event of the session (DESIGN §4 `--watch`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PHASES = ("setup", "coder", "tests")


class ProgressFile:
    """Append `{"phase", "attempt", "attempts", "at"}` lines to a file (or to nothing)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def phase(self, phase: str, attempt: int = 0, attempts: int = 0) -> None:
        """Say that `phase` of attempt k of n starts now."""
        if self.path is None:
            return
        line = json.dumps({"phase": phase, "attempt": attempt, "attempts": attempts,
                           "at": round(time.time(), 3)})
        # One write of a whole line: a reader never sees half of it as a line.
        with self.path.open("a", encoding="utf-8") as sink:
            sink.write(line + "\n")


class ProgressPost:
    """Send each attempt boundary to the service (a job in Actions); best effort: a boundary
    that cannot be sent is only logged, it never fails or slows the child for long."""

    def __init__(self, send: Callable[[dict[str, Any]], None],
                 log: Callable[[str], None]) -> None:
        self.send, self.log = send, log

    def phase(self, phase: str, attempt: int = 0, attempts: int = 0) -> None:
        """Say that `phase` of attempt k of n starts now."""
        try:
            self.send({"phase": phase, "attempt": attempt, "attempts": attempts})
        except Exception as error:  # noqa: BLE001 - progress is a courtesy, the result is not
            self.log(f"could not report {phase} to the service: {error}")
