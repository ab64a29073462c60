"""Keep `ccs serve`'s one queue worker process alive: a dead worker is restarted, not ignored."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

log = logging.getLogger("ccs.service")
WORKER_STOP_SECONDS = 30
# A worker that dies this soon after it started is failing at start-up (an import error, a bad
# setting): restarting it in a tight loop would only fill the log, so back off instead.
QUICK_DEATH_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 60.0


def worker_command(threads: int) -> list[str]:
    """Return the argv of one `ccs worker` child process."""
    return [sys.executable, "-m", "service.cli", "worker", "--threads", str(threads)]


class WorkerSupervisor:
    """Run one worker process and start it again whenever it exits while the service is up."""

    def __init__(self, command: list[str],
                 spawn: Callable[[list[str]], subprocess.Popen] = subprocess.Popen,
                 clock: Callable[[], float] | None = None, first_backoff: float = 1.0) -> None:
        import time

        self.command = command
        self.first_backoff = first_backoff
        self.spawn = spawn
        self.clock = clock or time.monotonic
        self.restarts = 0
        self.process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="ccs-worker-supervisor",
                                        daemon=True)

    def start(self) -> WorkerSupervisor:
        """Start the worker and the thread that watches it."""
        with self._lock:
            self.process = self.spawn(self.command)
        self._thread.start()
        return self

    def _watch(self) -> None:
        backoff = self.first_backoff
        while not self._stopping.is_set():
            process = self.process
            started = self.clock()
            code = process.wait() if process is not None else 0
            if self._stopping.is_set():
                return
            lived = self.clock() - started
            backoff = backoff * 2 if lived < QUICK_DEATH_SECONDS else self.first_backoff
            backoff = min(backoff, MAX_BACKOFF_SECONDS)
            log.error("queue worker exited with code %s after %.0f s; restarting it in %.0f s "
                      "(nothing is lost: the queue and the inbox keep the work)",
                      code, lived, backoff)
            if self._stopping.wait(backoff):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self.process = self.spawn(self.command)
                self.restarts += 1

    def stop(self) -> None:
        """Ask the worker to finish its tasks and stop; kill it if it takes too long."""
        self._stopping.set()
        with self._lock:
            process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(WORKER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
