"""The local executor: each child runs the action/ runner as a process in its own worktree."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from pathlib import Path

from service.adapters.db.models import ChildRow, SessionRow, utcnow
from service.adapters.db.store import Store
from service.adapters.git_repo import GitError, GitRepository
from service.domain.states import ChildMoves
from service.domain.wire import (
    ChildResult,
    InvalidResult,
    JobConfig,
    TestCounts,
    component_entry,
    parse_result,
)
from service.orchestrator.ports import ResultSink

KILL_GRACE_SECONDS = 5.0
# Import the runner from this checkout without putting ccs on the children's PYTHONPATH,
# where it could shadow a package of the user's own called `action` or `service`.
_CCS_ROOT = str(Path(__file__).resolve().parents[3])
RUNNER_BOOTSTRAP = (
    f"import sys; sys.path.insert(0, {_CCS_ROOT!r}); from action.__main__ import main; "
    "sys.exit(main(sys.argv[1:]))"
)


class LocalExecutor:
    """Runs up to `parallel` children at once; results go to the bound result sink."""

    def __init__(self, repo: GitRepository, store: Store, parallel: int | None,
                 log_dir: Path) -> None:
        self.repo, self.store = repo, store
        self.default_parallel = parallel
        self.log_dir = log_dir
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future] = []
        self._processes: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sink: ResultSink | None = None

    def bind(self, sink: ResultSink) -> None:
        """Set where finished children's results go (the orchestrator's record_result)."""
        self._sink = sink

    def dispatch(self, session: SessionRow, children: list[ChildRow], config: JobConfig) -> None:
        """Queue the children; each starts when one of `session.parallel` slots is free."""
        if self._pool is None:
            workers = max(1, self.default_parallel or session.parallel or 1)
            self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ccs-child")
        moved = set(self.store.apply_to_all(
            ChildMoves.DISPATCH, [c.id for c in children], start_sha=session.base_sha,
            dispatched_at=utcnow()))
        # Submit in spawn order: the pool starts them first come, first served.
        for child in children:
            if child.id in moved:
                with self._lock:
                    self._futures.append(self._pool.submit(self._run, session, child, config))

    def resume(self, session: SessionRow, config: JobConfig) -> None:
        """Nothing to finish: a local dispatch is never half-sent."""

    def cancel(self, session: SessionRow, children: list[ChildRow]) -> None:
        """Stop the named children: SIGTERM their runners (which report), then SIGKILL."""
        self._stopping.set()
        with self._lock:
            processes = [self._processes[c.id] for c in children if c.id in self._processes]
        for process in processes:
            _signal_group(process, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(KILL_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every queued child has finished; return False on timeout."""
        while True:
            with self._lock:
                pending = [f for f in self._futures if not f.done()]
            if not pending:
                return True
            _, not_done = futures_wait(pending, timeout=timeout)
            if not_done:
                return False

    def shutdown(self) -> None:
        """Release the worker threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, session: SessionRow, child: ChildRow, config: JobConfig) -> None:
        if self._stopping.is_set():
            return
        try:
            result = self._run_child(session, child, config)
        except Exception as error:  # noqa: BLE001 - a child must always report
            self._note(child, traceback.format_exc())
            result = failed_result(child, f"could not run the child: {type(error).__name__}: "
                                   f"{error}")
        if self._sink is not None:
            self._sink(child.id, result)

    def _note(self, child: ChildRow, text: str) -> None:
        with contextlib.suppress(OSError), open(self.log_dir / f"{child.component}.log",
                                                "a", encoding="utf-8") as log:
            log.write(text)

    def _run_child(self, session: SessionRow, child: ChildRow, config: JobConfig) -> ChildResult:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{child.component}.log"
        scratch = Path(tempfile.mkdtemp(prefix=f"ccs-{session.id}-{child.component}-"))
        worktree = scratch / "checkout"
        result_file = scratch / "result.json"
        try:
            self.repo.add_worktree(worktree, session.base_sha)
            self.store.apply(ChildMoves.START, child.id)
            if self._stopping.is_set():
                return failed_result(child, "cancelled before it started")
            with open(log_path, "ab") as log:
                process = subprocess.Popen(
                    runner_command(session, child, config, worktree, result_file),
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=child_environment(), start_new_session=True,
                )
                with self._lock:
                    self._processes[child.id] = process
                process.wait()
            if not result_file.exists():
                return failed_result(child, f"the runner exited {process.returncode} without a "
                                     f"result; see {log_path}")
            return parse_result(json.loads(result_file.read_text(encoding="utf-8")))
        except (OSError, ValueError, InvalidResult, GitError) as error:
            # A child that cannot start must still rest (failed), or the session never
            # reaches Validate.
            return failed_result(child, f"could not run the child: {error}; see {log_path}")
        finally:
            with self._lock:
                self._processes.pop(child.id, None)
            self.repo.remove_worktree(worktree)
            for leftover in (result_file,):
                leftover.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                scratch.rmdir()


def runner_command(session: SessionRow, child: ChildRow, config: JobConfig, worktree: Path,
                   result_file: Path) -> list[str]:
    """Return the argv that runs the action/ runner for one child."""
    entry = component_entry(child).to_json()
    return [sys.executable, "-c", RUNNER_BOOTSTRAP, "run", "--entry", json.dumps(entry),
            "--config", json.dumps(config.to_json()), "--session", session.id,
            "--workdir", str(worktree), "--result", str(result_file)]


def child_environment() -> dict[str, str]:
    """Return the children's environment: ours, with our interpreter first on PATH."""
    env = dict(os.environ)
    # `python` in a manifest command means the interpreter ccs runs under (its venv).
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def failed_result(child: ChildRow, message: str) -> ChildResult:
    """Return a failed result for a child that could not report by itself."""
    return ChildResult(status="failed", commit=None, branch=child.branch, attempts=0,
                       tests=TestCounts(), message=f"{child.component}: {message}")


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)
