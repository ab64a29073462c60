"""Tail a runner's progress file (action/progress.py) and record each line as an event."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from service.domain.live import progress_data as checked

POLL_SECONDS = 0.2
MAX_LINE = 1024


def progress_data(line: str) -> dict[str, Any] | None:
    """Return the event data a progress line holds, or None for a line that is not one.

    The file is written inside the child's sandbox, so it is read as untrusted input.
    """
    try:
        return checked(json.loads(line)) if len(line) <= MAX_LINE else None
    except ValueError:
        return None


class ProgressTail(threading.Thread):
    """Hand every complete new line of `path` to `record` until stopped (then once more)."""

    def __init__(self, path: Path, record: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(daemon=True, name=f"ccs-progress-{path.parent.name}")
        self.path, self.record = path, record
        self._done = threading.Event()
        self._offset = 0

    def run(self) -> None:
        while not self._done.wait(POLL_SECONDS):
            self._read()
        self._read()

    def stop(self) -> None:
        """Read what is left and end the thread."""
        self._done.set()
        self.join()

    def _read(self) -> None:
        try:
            with self.path.open("rb") as source:
                source.seek(self._offset)
                chunk = source.read()
        except OSError:
            return
        complete = chunk[:chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.decode("utf-8", "replace").splitlines():
            data = progress_data(line)
            if data is not None:
                self.record(data)
