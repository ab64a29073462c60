"""How the service logs: plain lines or JSON lines (CCS_LOG_FORMAT), with session and delivery.

The webhook route, the callback route and the queue tasks bind the ids they know to the
current thread (`log_context`); a filter copies them onto every record, so each line says
which session and which delivery it belongs to.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO

LOG_FORMATS = ("json", "plain")
PLAIN = "%(asctime)s %(levelname)s %(name)s%(ids)s: %(message)s"
_session: ContextVar[str | None] = ContextVar("ccs_log_session", default=None)
_delivery: ContextVar[str | None] = ContextVar("ccs_log_delivery", default=None)


def bind_log_context(*, session: str | None = None, delivery: str | None = None) -> None:
    """Name the session and/or delivery the current thread works for (until cleared)."""
    if session is not None:
        _session.set(session)
    if delivery is not None:
        _delivery.set(delivery)


def clear_log_context() -> None:
    """Forget the ids bound to this thread (at the end of a request or a task)."""
    _session.set(None)
    _delivery.set(None)


@contextmanager
def log_context(*, session: str | None = None, delivery: str | None = None) -> Iterator[None]:
    """Bind the ids for the `with` block, then clear them."""
    bind_log_context(session=session, delivery=delivery)
    try:
        yield
    finally:
        clear_log_context()


class ContextFilter(logging.Filter):
    """Copy the bound session and delivery ids onto each record (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add `session`, `delivery` and `ids` (their plain-text form) to `record`."""
        for name, var in (("session", _session), ("delivery", _delivery)):
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        ids = [f"{name}={value}" for name in ("session", "delivery")
               if (value := getattr(record, name, None))]
        record.ids = f" [{' '.join(ids)}]" if ids else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, session, delivery."""

    def __init__(self, clean: Callable[[str], str] = lambda text: text) -> None:
        super().__init__()
        self.clean = clean

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line of JSON, secrets masked."""
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name,
            "message": self.clean(record.getMessage()),
            "session": getattr(record, "session", None),
            "delivery": getattr(record, "delivery", None),
        }
        if record.exc_info:
            line["exception"] = self.clean(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def choose_format(setting: str | None, stream: IO[str]) -> str:
    """Return the format to log in: the setting, else plain on a terminal and JSON off one."""
    if setting:
        return setting
    isatty = getattr(stream, "isatty", None)
    return "plain" if isatty is not None and isatty() else "json"


def make_formatter(log_format: str, clean: Callable[[str], str]) -> logging.Formatter:
    """Return the formatter for `log_format` (json or plain)."""
    return JsonFormatter(clean) if log_format == "json" else logging.Formatter(PLAIN)


def configure_logging(level: str, setting: str | None, clean: Callable[[str], str],
                      stream: IO[str] | None = None) -> str:
    """Send every log record to `stream` (stderr) in the chosen format; return the format."""
    stream = stream or sys.stderr
    chosen = choose_format(setting, stream)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(make_formatter(chosen, clean))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return chosen
