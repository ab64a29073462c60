"""Start an action/ runner process (sandboxed where it applies) and log its output, capped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from action.logcap import CappedLog
from service.adapters.local.sandbox import READ_ONLY, refused_write

# A sandbox's bwrap dies at once on SIGTERM while the runner inside finishes reporting; the
# runner's own stop (command grace + reaping) takes a few seconds, so wait this long for it.
DRAIN_SECONDS = 30.0
_POLL = 0.05
MAX_REFUSED_LINES = 20


@dataclass(frozen=True)
class RunnerExit:
    """How a runner process ended, and the first write the sandbox refused, if any."""

    returncode: int
    refused: str | None


class ChildLog:
    """A child's output into a capped log, noting lines about writes the sandbox refused;
    safe from several threads."""

    def __init__(self, log: CappedLog) -> None:
        self.log = log
        self.refused_lines: list[str] = []
        self.lock = threading.Lock()
        self.closed = False
        self._carry = b""

    def write(self, chunk: bytes) -> int:
        """Take `chunk` (nothing once finished); return its length, as a file would."""
        with self.lock:
            if not self.closed:
                self.log.write(chunk)
                self._scan(chunk)
        return len(chunk)

    def flush(self) -> None:
        """Flush the log's head."""
        with self.lock:
            if not self.closed:
                self.log.flush()

    def refused(self) -> str | None:
        """Return the first write the sandbox refused, if any line says so."""
        return refused_write("\n".join(self.refused_lines)) if self.refused_lines else None

    def _scan(self, chunk: bytes) -> None:
        lines = (self._carry + chunk).split(b"\n")
        self._carry = lines.pop()[-4096:]
        if len(self.refused_lines) >= MAX_REFUSED_LINES:
            return
        needle = READ_ONLY.encode()
        self.refused_lines += [line.decode("utf-8", "replace") for line in lines
                               if needle in line][:MAX_REFUSED_LINES]

    def finish(self) -> None:
        """Stop taking output and write the log's kept tail."""
        with self.lock:
            self.closed = True
            self.log.close()


class _OutputPump(threading.Thread):
    """Copy the runner's output into a child's log."""

    def __init__(self, pipe: BinaryIO, log: ChildLog) -> None:
        super().__init__(daemon=True)
        self.pipe, self.log = pipe, log

    def run(self) -> None:
        for chunk in iter(lambda: self.pipe.read1(65536), b""):
            if self.log.closed:
                return
            self.log.write(chunk)


def run_runner(argv: list[str], *, env: dict[str, str], log_path: Path, mode: str = "ab",
               started: Callable[[subprocess.Popen], None] = lambda _: None) -> RunnerExit:
    """Run `argv` in a session of its own, its output capped into `log_path`; wait for it."""
    with open(log_path, mode) as sink:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        started(process)
        log = ChildLog(CappedLog(sink))
        pump = _OutputPump(process.stdout, log)
        pump.start()
        process.wait()
        # The output ends when the runner (inside the sandbox, maybe still reporting) exits.
        pump.join(DRAIN_SECONDS)
        if pump.is_alive():
            signal_group(process.pid, signal.SIGKILL)
            pump.join(1.0)
        log.finish()
        process.stdout.close()
    return RunnerExit(process.returncode, log.refused())


def stop_group(pgid: int, grace: float) -> None:
    """SIGTERM a runner's process group, then SIGKILL it if it is not gone after `grace`."""
    if not signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not signal_group(pgid, 0):
            return
        time.sleep(_POLL)
    signal_group(pgid, signal.SIGKILL)


def signal_group(pgid: int, signum: int) -> bool:
    """Send `signum` to a process group; return False when nobody in it is left."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def with_temp_dir(env: dict[str, str], scratch: Path) -> dict[str, str]:
    """Return `env` with the temp folder variables pointing at `scratch`/tmp (made here)."""
    temp = scratch / "tmp"
    with contextlib.suppress(FileExistsError):
        temp.mkdir()
    # The sandbox lets a child write only under its scratch folder; /tmp is read-only there.
    return {**env, "TMPDIR": str(temp), "TMP": str(temp), "TEMP": str(temp)}
