"""Run one command in its own process group, with a timeout, capped output, placeholders."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from action.reaper import reap_descendants

PLACEHOLDERS = ("context", "component", "design", "implementation", "test", "junit", "attempt",
                "prompt")
OUTPUT_CAP = 256 * 1024
KILL_GRACE = 2.0
_POLL = 0.05
_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def substitute(arg: str, values: Mapping[str, str]) -> str:
    """Replace `{name}` placeholders in one argument; `{{`/`}}` are literal braces.

    Unknown names are left as written, so an argument such as `{x}` meant for the
    program itself survives; no format-spec or attribute access is ever evaluated.
    """

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "{{":
            return "{"
        if text == "}}":
            return "}"
        name = match.group(1)
        return str(values[name]) if name in values else text

    return _TOKEN.sub(replace, arg)


def substitute_all(argv: list[str], values: Mapping[str, str]) -> list[str]:
    """Return `argv` with placeholders substituted in every argument."""
    return [substitute(arg, values) for arg in argv]


@dataclass(frozen=True)
class CommandOutcome:
    """How one command ended and the tail of what it printed."""

    argv: tuple[str, ...]
    exit_code: int | None
    timed_out: bool
    cancelled: bool
    duration: float
    stdout: str
    stderr: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Return True when the command exited 0 on its own."""
        return self.exit_code == 0 and not self.timed_out and not self.cancelled

    @property
    def not_started(self) -> bool:
        """Return True when the program could not be started at all (`error` says why)."""
        return self.error is not None

    def describe(self, timeout: float) -> str:
        """Return a short reason such as 'timed out after 30 s' or 'exited with code 2'."""
        if self.error:
            return self.error
        if self.cancelled:
            return "was cancelled"
        if self.timed_out:
            return f"timed out after {timeout:g} s"
        if self.exit_code is not None and self.exit_code < 0:
            return f"was killed by signal {-self.exit_code}"
        return f"exited with code {self.exit_code}"


class _TailReader(threading.Thread):
    """Read a pipe to its end, keeping the last `cap` bytes, echoing and copying if asked."""

    def __init__(self, pipe: BinaryIO, cap: int, echo: BinaryIO | None,
                 copy: BinaryIO | None = None) -> None:
        super().__init__(daemon=True)
        self.pipe, self.cap, self.echo, self.copy = pipe, cap, echo, copy
        self.buffer = bytearray()

    def run(self) -> None:
        for chunk in iter(lambda: self.pipe.read1(65536), b""):
            if self.copy is not None:
                try:
                    self.copy.write(chunk)
                except (OSError, ValueError):
                    # Closed under a grandchild that kept the pipe open past the end.
                    self.copy = None
            self.buffer += chunk
            if len(self.buffer) > self.cap:
                del self.buffer[: len(self.buffer) - self.cap]
            if self.echo is not None:
                try:
                    self.echo.write(chunk)
                    self.echo.flush()
                except (OSError, ValueError):
                    self.echo = None

    def text(self) -> str:
        """Return what was kept, decoded leniently."""
        return self.buffer.decode("utf-8", errors="replace")


def kill_group(process: subprocess.Popen, grace: float = KILL_GRACE,
               jailed: bool = False) -> None:
    """SIGTERM the process's group, then SIGKILL whatever is left after `grace` seconds.

    `jailed`: the process is a sandbox whose process namespace ends with it, so its exit
    is the end of everything it started (what may stay in the group is a zombie, the
    namespace's init, which this process cannot reap).
    """
    pgid = process.pid
    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        # Reap the leader so a zombie does not make the group look alive.
        if process.poll() is not None and jailed:
            return
        if not _signal_group(pgid, 0):
            return
        time.sleep(_POLL)
    _signal_group(pgid, signal.SIGKILL)
    process.wait()


def _signal_group(pgid: int, signum: int) -> bool:
    """Send `signum` to the group; return False when nobody in it is left."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def run_command(
    argv: list[str],
    *,
    cwd: str,
    env: Mapping[str, str],
    timeout: float,
    cancel: threading.Event | None = None,
    echo: BinaryIO | None = None,
    cap: int = OUTPUT_CAP,
    grace: float = KILL_GRACE,
    stdin: str | None = None,
    stdout_copy: BinaryIO | None = None,
    jail: Sequence[str] = (),
) -> CommandOutcome:
    """Run `argv` (never through a shell) in a new process group and wait at most `timeout` s.

    `stdin` is fed to the command as text (else it reads nothing); `stdout_copy` gets
    all of its standard output, which the outcome keeps only the tail of. `jail` is a
    sandbox's argv to run it in.
    """
    started = time.monotonic()
    missing = _missing_program(argv[0], cwd, env) if jail else None
    if missing is not None:
        # Outside a jail Popen says so itself; inside one, bwrap would start and fail.
        return CommandOutcome(tuple(argv), None, False, False, 0.0, "", "",
                              error=f"could not start {argv[0]!r}: {missing}")
    try:
        process = subprocess.Popen(
            [*jail, *argv], cwd=cwd, env=dict(env),
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
    except OSError as error:
        return CommandOutcome(tuple(argv), None, False, False, 0.0, "", "",
                              error=f"could not start {argv[0]!r}: {error.strerror or error}")
    readers = [_TailReader(process.stdout, cap, echo, stdout_copy),
               _TailReader(process.stderr, cap, echo)]
    for reader in readers:
        reader.start()
    if stdin is not None:
        # A writer thread, so that a command which reads slowly or never cannot block us.
        threading.Thread(target=_feed, args=(process.stdin, stdin), daemon=True).start()
    stopped = _wait_for(process, started + timeout, cancel)
    timed_out, cancelled = stopped == "timed_out", stopped == "cancelled"
    # Kill the whole group even after a clean exit: a stray grandchild would keep the
    # pipes open and outlive the job.
    if not (timed_out or cancelled):
        process.wait()
    if jail and not (timed_out or cancelled):
        # Its namespace ended with it: nothing it started is left to wait for.
        _signal_group(process.pid, signal.SIGKILL)
    else:
        kill_group(process, grace, jailed=bool(jail))
    process.wait()
    # `setsid` and double-forked children left the group; as a subreaper the runner
    # adopted them, so they are found and ended here (DESIGN §8: nothing outlives a job).
    reap_descendants()
    for reader in readers:
        # A grandchild that left the group may still hold a pipe; do not wait on it forever.
        reader.join(timeout=1.0)
    return CommandOutcome(
        argv=tuple(argv),
        exit_code=process.returncode,
        timed_out=timed_out,
        cancelled=cancelled,
        duration=time.monotonic() - started,
        stdout=readers[0].text(),
        stderr=readers[1].text(),
    )


def _missing_program(program: str, cwd: str, env: Mapping[str, str]) -> str | None:
    """Return why `program` cannot be started from `cwd` with `env`'s PATH (None: it can)."""
    found = (os.path.join(cwd, program) if "/" in program
             else shutil.which(program, path=env.get("PATH", os.defpath)))
    if found is None or not os.path.exists(found):
        return "No such file or directory"
    if os.path.isdir(found) or not os.access(found, os.X_OK):
        return "Permission denied"
    return None


def _wait_for(process: subprocess.Popen, deadline: float,
              cancel: threading.Event | None) -> str | None:
    """Wait until the process exits (None), the deadline passes or a cancel comes.

    The exit is seen at once: a pidfd becomes readable when the process ends (a 50 ms
    sleep between polls cost ~25 ms per command, two commands per child). Only the
    deadline and the cancel flag are looked at every _POLL seconds.
    """
    pidfd = _pidfd(process.pid)
    try:
        while process.poll() is None:
            if cancel is not None and cancel.is_set():
                return "cancelled"
            left = deadline - time.monotonic()
            if left <= 0:
                return "timed_out"
            if pidfd is None:
                time.sleep(min(left, _POLL))
            else:
                select.select([pidfd], [], [], min(left, _POLL))
    finally:
        if pidfd is not None:
            os.close(pidfd)
    return None


def _pidfd(pid: int) -> int | None:
    """Return a file descriptor that becomes readable when `pid` ends (Linux ≥ 5.3), or None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _feed(pipe: BinaryIO, text: str) -> None:
    """Write `text` to a child's stdin and close it; a child that quit early is fine."""
    try:
        pipe.write(text.encode("utf-8"))
        pipe.close()
    except (BrokenPipeError, OSError, ValueError):
        pass


def tail(text: str, limit: int) -> str:
    """Return the last `limit` characters of `text`, marking the cut."""
    if len(text) <= limit:
        return text
    return "[… earlier output cut …]\n" + text[-limit:]


def trap_signals(cancel: threading.Event) -> None:
    """Turn SIGTERM/SIGINT into a cancel request, so the loop kills its child and reports."""

    def handle(signum: int, _frame: object) -> None:
        print(f"ccs: got signal {signum}; cancelling", file=sys.stderr, flush=True)
        cancel.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handle)
