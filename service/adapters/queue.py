"""The task queue: Huey on SQLite (one host) or Redis (scale-out), or inline for tests."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, Protocol

from huey import Huey, MemoryHuey, PriorityRedisHuey, SqliteHuey

from service.config import Config

log = logging.getLogger(__name__)
QUEUE_NAME = "ccs"
TASK_RETRIES = 3
RETRY_DELAY_SECONDS = 30

TaskBody = Callable[..., Any]


class TaskQueue(Protocol):
    """Where the web process puts slow work: a task name and plain JSON-able arguments."""

    def enqueue(self, name: str, *args: Any) -> None: ...


def is_redis(config: Config) -> bool:
    """Return True when CCS_QUEUE_URL names a Redis server."""
    return bool(config.queue_url and config.queue_url.startswith(
        ("redis://", "rediss://", "unix://")))


def make_huey(config: Config, *, immediate: bool = False) -> Huey:
    """Return the Huey instance CCS_QUEUE_URL asks for (default: <workspace>/queue.db)."""
    url = config.queue_url
    if immediate or url == "memory://":
        return MemoryHuey(QUEUE_NAME, immediate=immediate, results=False)
    if is_redis(config):
        return PriorityRedisHuey(QUEUE_NAME, url=url, results=False)
    if url and url.startswith("sqlite:///"):
        filename = url[len("sqlite:///"):]
    elif url:
        raise ValueError(f"CCS_QUEUE_URL={url!r} is not supported: use redis://…, "
                         "sqlite:///path/queue.db or leave it unset")
    else:
        config.workspace_dir.mkdir(parents=True, exist_ok=True)
        filename = str(config.workspace_dir / "queue.db")
    return SqliteHuey(QUEUE_NAME, filename=filename, results=False)


def every(seconds: int) -> Callable[[dt.datetime], bool]:
    """Return a Huey periodic-task validator firing every `seconds` (minute granularity)."""
    minutes = max(1, seconds // 60)

    def due(moment: dt.datetime) -> bool:
        return (moment.hour * 60 + moment.minute) % minutes == 0
    return due


class HueyQueue:
    """Registers the task bodies on a Huey instance and enqueues them by name."""

    def __init__(self, huey: Huey, bodies: dict[str, TaskBody],
                 context: Callable[[], Any], periodic: dict[str, int] | None = None) -> None:
        self.huey = huey
        self._tasks = {}
        for name, body in bodies.items():
            run = _bound(name, body, context)
            if name in (periodic or {}):
                self._tasks[name] = huey.periodic_task(
                    every(periodic[name]), name=name)(run)  # type: ignore[index]
            else:
                # Retries cover GitHub 5xx and database hiccups; bodies swallow bad input.
                self._tasks[name] = huey.task(retries=TASK_RETRIES,
                                              retry_delay=RETRY_DELAY_SECONDS, name=name)(run)

    def enqueue(self, name: str, *args: Any) -> None:
        """Put one task on the queue."""
        self._tasks[name](*args)


class InlineQueue:
    """Runs each task at once in the caller's thread, errors included (tests, demos)."""

    def __init__(self, bodies: dict[str, TaskBody], context: Callable[[], Any]) -> None:
        self.bodies, self.context = bodies, context
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def enqueue(self, name: str, *args: Any) -> None:
        """Run the task now."""
        self.calls.append((name, args))
        self.bodies[name](self.context(), *args)


def _bound(name: str, body: TaskBody, context: Callable[[], Any]) -> TaskBody:
    def run(*args: Any) -> Any:
        return body(context(), *args)
    run.__name__ = run.__qualname__ = name
    return run
