"""A log that keeps the head and the tail of what is written and says how much it cut."""

from __future__ import annotations

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
