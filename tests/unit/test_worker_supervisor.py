"""`ccs serve` restarts its queue worker when it dies, and stops it for good on shutdown."""

from __future__ import annotations

import subprocess
import sys
import threading

from service.cli.supervise import WorkerSupervisor

DIES_AT_ONCE = [sys.executable, "-c", "raise SystemExit(3)"]
RUNS_UNTIL_STOPPED = [sys.executable, "-c", "import time; time.sleep(600)"]


class Spawner:
    """Start the given commands in turn (the last one for every further start)."""

    def __init__(self, *commands: list[str]) -> None:
        self.commands = list(commands)
        self.started: list[subprocess.Popen] = []
        self.changed = threading.Condition()

    def __call__(self, _command: list[str]) -> subprocess.Popen:
        command = self.commands.pop(0) if len(self.commands) > 1 else self.commands[0]
        process = subprocess.Popen(command)
        with self.changed:
            self.started.append(process)
            self.changed.notify_all()
        return process

    def wait_for_starts(self, count: int) -> None:
        # The bound only turns a broken supervisor into a failure instead of a hang.
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.started) >= count, timeout=120)


def test_a_worker_that_dies_is_started_again():
    spawner = Spawner(DIES_AT_ONCE, RUNS_UNTIL_STOPPED)
    supervisor = WorkerSupervisor(["ccs", "worker"], spawn=spawner, first_backoff=0.01).start()
    try:
        spawner.wait_for_starts(2)
        assert spawner.started[0].wait() == 3
        assert supervisor.restarts == 1
        assert supervisor.process is spawner.started[1]
        assert supervisor.process.poll() is None
    finally:
        supervisor.stop()
    assert spawner.started[1].wait() != 0  # stopped by SIGTERM


def test_a_stopped_supervisor_starts_nothing_more():
    spawner = Spawner(RUNS_UNTIL_STOPPED)
    supervisor = WorkerSupervisor(["ccs", "worker"], spawn=spawner, first_backoff=0.01).start()
    supervisor.stop()
    supervisor._thread.join()
    assert len(spawner.started) == 1
    assert supervisor.restarts == 0
