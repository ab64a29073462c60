"""A log that keeps the head and the tail of what is written and says how much it cut."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import BinaryIO

HEAD_BYTES = 1 << 20
TAIL_BYTES = 1 << 20


class CappedLog:
    """Write the first `head` bytes through, keep the last `tail` in memory until close()."""

    def __init__(self, sink: BinaryIO, head: int = HEAD_BYTES, tail: int = TAIL_BYTES) -> None:
        self.sink, self.head, self.tail = sink, head, tail
        self.written = 0
        self.cut = 0
        self._tail = bytearray()

    def write(self, chunk: bytes) -> int:
        """Take `chunk`; return its length, as a file would."""
        room = max(0, self.head - self.written)
        if room:
            self.sink.write(chunk[:room])
            self.written += min(room, len(chunk))
        rest = chunk[room:]
        if rest:
            self._tail += rest
            if len(self._tail) > self.tail:
                overflow = len(self._tail) - self.tail
                del self._tail[:overflow]
                self.cut += overflow
        return len(chunk)

    def flush(self) -> None:
        """Flush what the head wrote (the tail waits for close)."""
        self.sink.flush()

    def close(self) -> None:
        """Write the marker, if anything was cut, and the kept tail; leave `sink` open."""
        if self.cut:
            self.sink.write(
                f"\n[ccs: {self.cut} bytes of output cut here; the log keeps the first "
                f"{self.head} and the last {self.tail} bytes]\n".encode())
        self.sink.write(bytes(self._tail))
        self._tail.clear()
        self.sink.flush()


class TeeLog:
    """Pass output on to `echo` and keep a capped copy in `path`; safe from two threads."""

    def __init__(self, echo: BinaryIO | None, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.echo = echo
        self._file = path.open("ab")
        self._log = CappedLog(self._file)
        self._lock = threading.Lock()

    def write(self, chunk: bytes) -> int:
        """Take `chunk` (stdout and stderr readers share one log)."""
        with self._lock:
            self._log.write(chunk)
            if self.echo is not None:
                try:
                    self.echo.write(chunk)
                except (OSError, ValueError):
                    self.echo = None
        return len(chunk)

    def flush(self) -> None:
        """Flush the echo and the log's head."""
        with self._lock:
            self._log.flush()
            if self.echo is not None:
                try:
                    self.echo.flush()
                except (OSError, ValueError):
                    self.echo = None

    def close(self) -> None:
        """Write the kept tail and close the file (the echo stays open)."""
        with self._lock:
            self._log.close()
            self._file.close()


def attempt_log(logs: Path | None, attempt: int, name: str) -> Path | None:
    """Return `<logs>/attempt-<k>/<name>`, or None when the runner keeps no logs."""
    return None if logs is None else logs / f"attempt-{attempt}" / name
