"""Adopt and reap every descendant of the runner, `setsid` and double-forked ones included."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
REAP_DEADLINE = 10.0
_POLL = 0.02
_state = {"subreaper": False}


def become_subreaper() -> bool:
    """Make orphaned descendants reparent to this process (Linux); return True if it did."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        # The process's own symbols (libc's among them): find_library ran `ldconfig -p`.
        libc = ctypes.CDLL(None, use_errno=True)
        done = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        done = False
    _state["subreaper"] = done
    return done


def is_subreaper() -> bool:
    """Return True when become_subreaper() succeeded in this process."""
    return _state["subreaper"]


def descendants(root: int) -> list[int]:
    """Return the pids below `root` in the process tree (zombies included), read from /proc."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()
        except OSError:
            continue  # it ended while we looked
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    pending = list(children.get(root, ()))
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, ()))
    return found


def reap_descendants(deadline: float = REAP_DEADLINE) -> int:
    """SIGKILL every descendant of this process and wait for them; return how many there were.

    Only a subreaper may do this: then every descendant was started by the command that
    just ended (the runner runs one at a time), and orphans come back to be waited for.
    """
    if not is_subreaper():
        return 0
    killed: set[int] = set()
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        _collect_zombies()
        left = descendants(os.getpid())
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        # A killed parent's children come back to us a moment later; look again.
        time.sleep(_POLL)
    return len(killed)


def _collect_zombies() -> None:
    """Wait for every child that has ended, without blocking on live ones."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
