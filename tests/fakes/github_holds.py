"""Hold points of the test GitHub: a matching request is recorded, then waits until released.

A test places a crash precisely with them, by event and never by clock:

    hold = gh.hold("dispatch", "POST", "/repos/o/r/actions/workflows/*/dispatches")
    ... start the session ...
    hold.wait_arrived()      # the request is at GitHub, unanswered
    ccs.kill()               # the caller dies mid-request
    hold.release()           # GitHub carries the request out, as the real one would
    hold.wait_done()

Pushes are requests too: `arm_receive_hook` installs a pre-receive hook in a bare repository
that POSTs the pushed refs to `/_git/<owner>/<name>/receive/<first ref>` and waits for the
answer, so a hold on that path holds a `git push` between its upload and the ref update.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.github_http import Fault

_HOOK = '''#!{python}
"""pre-receive of the test GitHub: tell it about the push and wait for its verdict."""
import json, sys, urllib.request
refs = [line.split() for line in sys.stdin.read().splitlines() if line.strip()]
body = json.dumps({{"refs": [{{"old": o, "new": n, "ref": r}} for o, n, r in refs]}})
first = refs[0][2] if refs else "none"
request = urllib.request.Request({url!r} + "/" + first, data=body.encode(), method="POST",
                                 headers={{"Content-Type": "application/json"}})
with urllib.request.urlopen(request, timeout=3600) as answer:
    sys.exit(0 if answer.status < 300 else 1)
'''


@dataclass
class Hold:
    """One named hold point and the events a test waits on."""

    name: str
    probe: Fault
    times: int = 1
    calls: list[str] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        """Let the held request (and any later match) go on."""
        self.released.set()

    def wait_arrived(self, progress: Callable[[], Any] | None = None,
                     quiet_seconds: float = 60) -> None:
        """Wait until a request reached the hold; fail only after `quiet_seconds` of no
        progress (`progress()` returns something that changes while the system works)."""
        _wait_event(self.arrived, f"no request reached hold {self.name!r}", progress,
                    quiet_seconds)

    def wait_done(self, quiet_seconds: float = 60) -> None:
        """Wait until the released request was answered (the dead caller never reads it)."""
        _wait_event(self.done, f"the request held at {self.name!r} never finished", None,
                    quiet_seconds)


class Holds:
    """The hold points of one test GitHub (checked first thing for every request)."""

    def __init__(self) -> None:
        self._holds: list[Hold] = []
        self._lock = threading.Lock()

    def add(self, name: str, method: str, path_pattern: str, times: int = 1) -> Hold:
        """Hold the next `times` requests matching a method and a glob path."""
        hold = Hold(name, Fault(method.upper(), path_pattern, 0, 0), times)
        with self._lock:
            self._holds.append(hold)
        return hold

    def take(self, method: str, path: str) -> Hold | None:
        """Return the hold a request stops at (consuming one use), or None."""
        with self._lock:
            for hold in self._holds:
                if hold.probe.matches(method, path):
                    hold.times -= 1
                    if hold.times <= 0:
                        self._holds.remove(hold)
                    hold.calls.append(f"{method} {path}")
                    return hold
        return None

    def release_all(self) -> None:
        """Release every hold (a test that ends must never leave a request waiting)."""
        with self._lock:
            pending, self._holds = list(self._holds), []
        for hold in pending:
            hold.release()


def arm_receive_hook(git_dir: Path, url: str) -> None:
    """Install the pre-receive hook that reports each push of `git_dir` to `url`."""
    hook = git_dir / "hooks" / "pre-receive"
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text(_HOOK.format(python=sys.executable, url=url))
    hook.chmod(0o755)


def _wait_event(event: threading.Event, what: str, progress: Callable[[], Any] | None,
                quiet_seconds: float) -> None:
    """Wait for `event`; the deadline moves each time `progress()` changes."""
    last = progress() if progress else None
    deadline = time.monotonic() + quiet_seconds
    while not event.wait(0.05):
        if progress is not None and (now := progress()) != last:
            last, deadline = now, time.monotonic() + quiet_seconds
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} ({quiet_seconds}s without progress)")


def register_receive_route(app: Any) -> None:
    """Answer the pre-receive hook: the push goes on (a hold on the path keeps it waiting)."""
    from flask import Response

    @app.post("/_git/<path:rest>")
    def receive(rest: str) -> Response:
        return Response("{}", status=200, mimetype="application/json")
