"""Run a child's action/ loop in a thread of `ccs run`, each command it starts sandboxed.

Where bubblewrap applies, a runner interpreter per child (~0.16 s of CPU to start and import,
bench/results/local_run_profile.md) buys nothing the sandbox does not already give: the
coder, the tests, the setup and every git call of the loop run in a jail of their own
(`sandbox.command_jail`), which may write only the checkout, its temp folder and `out/`.
The loop itself runs here, outside, so the files it writes live where no jail can write:

    scratch/checkout   the child's clone                       (jails: read-write)
    scratch/tmp        TMPDIR                                  (jails: read-write)
    scratch/out        the JUnit report, the usage file        (jails: read-write; read here
                                                                only as regular files)
    scratch/runner     prompts, feedback, output copies        (jails: read-only)
    scratch/logs       the per-attempt logs `ccs logs` shows   (jails: read-only)

Each jail's process namespace ends with its command, so nothing a command started is left
running when the loop reads `out/` or the checkout. Without the sandbox the executor runs
the runner as a process instead: only a subreaper process can reap what left its group.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from action.runner import Console, Runner, run_component
from action.spec import parse_component_entry, parse_config
from service.adapters.local.launch import ChildLog
from service.domain.live import progress_data


@dataclass(frozen=True)
class ChildFolders:
    """The folders of one child's scratch dir (module docstring)."""

    scratch: Path

    @property
    def checkout(self) -> Path:
        """The child's clone."""
        return self.scratch / "checkout"

    @property
    def temp(self) -> Path:
        """TMPDIR of its commands."""
        return self.scratch / "tmp"

    @property
    def outbox(self) -> Path:
        """Where its commands write the JUnit report and the usage file."""
        return self.scratch / "out"

    @property
    def private(self) -> Path:
        """The loop's own files, which no command may write."""
        return self.scratch / "runner"

    @property
    def logs(self) -> Path:
        """The per-attempt logs."""
        return self.scratch / "logs"

    def writable(self) -> list[Path]:
        """Return the folders a jail may write (made here if missing)."""
        for folder in (self.temp, self.outbox, self.private):
            folder.mkdir(exist_ok=True)
        return [self.checkout, self.temp, self.outbox]


class CancelFlag(threading.Event):
    """A child's cancel: set here (Ctrl-C, `ccs cancel` in this process), or raised by
    another ccs process creating `marker` (`ccs cancel` in another shell)."""

    def __init__(self, marker: Path) -> None:
        super().__init__()
        self.marker = marker

    def is_set(self) -> bool:
        """Return True once cancelled; looks for the marker (the loop asks every 50 ms)."""
        if not super().is_set() and self.marker.exists():
            self.set()
        return super().is_set()


class ProgressEvents:
    """The loop's attempt boundaries, recorded as events at once (no file to tail)."""

    def __init__(self, record: Callable[[dict[str, Any]], None]) -> None:
        self.record = record

    def phase(self, phase: str, attempt: int = 0, attempts: int = 0) -> None:
        """Record that `phase` of attempt k of n starts now."""
        data = progress_data({"phase": phase, "attempt": attempt, "attempts": attempts,
                              "at": round(time.time(), 3)})
        if data is not None:
            self.record(data)


class _Lines:
    """The loop's console lines, into the child's log."""

    def __init__(self, log: ChildLog) -> None:
        self.log = log

    def write(self, text: str) -> int:
        return self.log.write(text.encode("utf-8", "replace"))

    def flush(self) -> None:
        self.log.flush()


def run_inline(*, session: str, entry: dict[str, Any], config: dict[str, Any],
               folders: ChildFolders, jail: tuple[str, ...], environ: Mapping[str, str],
               log: ChildLog, cancel: threading.Event,
               progress: ProgressEvents) -> dict[str, Any]:
    """Run one child's loop here and return its result as the runner writes it (JSON)."""
    # The same checks as the runner's command line: the wire format is the contract.
    component = parse_component_entry(entry)
    run_config = parse_config(config)
    runner = Runner(session=session, workdir=folders.checkout, cancel=cancel,
                    console=Console(_Lines(log)), echo=log, environ=dict(environ),
                    progress=progress, logs=folders.logs, jail=jail,
                    scratch=folders.private, outbox=folders.outbox)
    try:
        result = run_component(component, run_config, runner)
    finally:
        runner.close()
    runner.console.info(f"{result.status}: {result.message}")
    return result.to_json()
