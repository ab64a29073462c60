"""The local executor: each child runs the action/ runner as a process in its own checkout."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import replace
from pathlib import Path

from action.logcap import CappedLog
from service.adapters.db.models import ChildRow, SessionRow, utcnow
from service.adapters.db.store import Store
from service.adapters.git_repo import GitError, GitRepository
from service.adapters.local.inline import (
    CancelFlag,
    ChildFolders,
    ProgressEvents,
    run_inline,
)
from service.adapters.local.launch import (
    ChildLog,
    RunnerExit,
    run_runner,
    stop_group,
    with_temp_dir,
)
from service.adapters.local.logs import LogFolder
from service.adapters.local.progress_tail import ProgressTail
from service.adapters.local.sandbox import (
    SandboxPlan,
    command_jail,
    refused_write_message,
    sandboxed,
    session_sandbox,
)
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
# How long `ccs cancel` in another shell waits for a child run in a thread of `ccs run` to
# stop (it cannot signal a thread: it leaves a marker the child's loop looks for).
INLINE_STOP_SECONDS = 30.0
_POLL = 0.05
# Import the runner from this checkout without putting ccs on the children's PYTHONPATH,
# where it could shadow a package of the user's own called `action` or `service`.
_CCS_ROOT = str(Path(__file__).resolve().parents[3])
RUNNER_BOOTSTRAP = (
    f"import sys; sys.path.insert(0, {_CCS_ROOT!r}); from action.__main__ import main; "
    "sys.exit(main(sys.argv[1:]))"
)


def runner_argv(*args: str) -> list[str]:
    """Return the argv that starts the action/ runner with `args`.

    `-S`: the runner needs the standard library only, and skipping site (the virtualenv's
    .pth files, the editable install's finder) saves ~25 ms of every child's start.
    """
    return [sys.executable, "-S", "-c", RUNNER_BOOTSTRAP, *args]


class LocalExecutor:
    """Runs up to `parallel` children at once; results go to the bound result sink."""

    def __init__(self, repo: GitRepository, store: Store, parallel: int | None,
                 log_dir: Path) -> None:
        self.repo, self.store = repo, store
        self.default_parallel = parallel
        self.log_dir = log_dir
        self.logs = LogFolder(log_dir)
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future] = []
        self._processes: dict[str, subprocess.Popen] = {}
        self._inline: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sink: ResultSink | None = None
        self._plans: dict[tuple[str, str], SandboxPlan] = {}
        self._plan_lock = threading.Lock()
        # One file per running child with its runner's process group, so that `ccs cancel`
        # in another shell (another process) can stop it (DESIGN §4).
        self.run_dir = log_dir.parent / "run"

    def bind(self, sink: ResultSink) -> None:
        """Set where finished children's results go (the orchestrator's record_result)."""
        self._sink = sink

    def dispatch(self, session: SessionRow, children: list[ChildRow], config: JobConfig) -> None:
        """Queue the children; each starts when one of `session.parallel` slots is free."""
        if self._pool is None:
            workers = max(1, self.default_parallel or session.parallel or 1)
            self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ccs-child")
        # Each child keeps the start commit Spawn recorded (its wave's, DESIGN §3b).
        moved = set(self.store.apply_to_all(
            ChildMoves.DISPATCH, [c.id for c in children], dispatched_at=utcnow()))
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
            groups = [self._processes[c.id].pid for c in children if c.id in self._processes]
            flags = [self._inline[c.id] for c in children if c.id in self._inline]
            elsewhere = [c for c in children
                         if c.id not in self._processes and c.id not in self._inline]
        for flag in flags:
            flag.set()
        groups += [pid for pid in map(self._recorded_runner, elsewhere) if pid is not None]
        self._cancel_inline_elsewhere(elsewhere)
        # The runners report on SIGTERM; a sandbox's bwrap ends at once, its runner later,
        # so wait for the whole group rather than for the process we started.
        stoppers = [threading.Thread(target=stop_group, args=(pid, KILL_GRACE_SECONDS))
                    for pid in groups]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()

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
        with contextlib.suppress(OSError), open(
                self.logs.runner_log(child.session_id, child.component), "a",
                encoding="utf-8") as log:
            log.write(text)

    def _run_child(self, session: SessionRow, child: ChildRow, config: JobConfig) -> ChildResult:
        log_path = self.logs.runner_log(session.id, child.component)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f"ccs-{session.id}-{child.component}-"))
        folders = ChildFolders(scratch)
        checkout = folders.checkout
        result_file = scratch / "result.json"
        where = log_hint(session.id, child.component, log_path.parent)
        try:
            plan = self._sandbox(session)
            # A checkout with a .git of its own: nothing the coder plants there reaches
            # the user's repository or runs as ccs (DESIGN §8).
            self.repo.add_checkout(checkout, child.start_sha or session.base_sha)
            self.store.apply(ChildMoves.START, child.id)
            if self._stopping.is_set():
                return failed_result(child, "cancelled before it started")
            home = Path(os.environ.get("HOME") or Path.home())
            if plan.enabled:
                body, ended = self._run_inline(session, child, config, folders,
                                               command_jail(plan, folders.writable(), home),
                                               log_path)
            else:
                argv = sandboxed(runner_command(session, child, config, checkout,
                                                result_file, folders.logs),
                                 plan, scratch, home)
                ended = self._run_runner(session, child, argv, scratch, log_path)
                if not result_file.exists():
                    return failed_result(child, f"the runner exited {ended.returncode} "
                                         f"without a result; {where}")
                body = json.loads(result_file.read_text(encoding="utf-8"))
            return self._bring_back(child, checkout, parse_result(body), ended, where)
        except (OSError, ValueError, InvalidResult, GitError) as error:
            # A child that cannot start must still rest (failed), or the session never
            # reaches Validate.
            return failed_result(child, f"could not run the child: {error}; {where}")
        finally:
            with contextlib.suppress(OSError, ValueError):
                self.logs.keep(session.id, child.component, folders.logs)
            with self._lock:
                self._processes.pop(child.id, None)
            self._pid_file(child).unlink(missing_ok=True)
            shutil.rmtree(scratch, ignore_errors=True)

    def _run_runner(self, session: SessionRow, child: ChildRow, argv: list[str],
                    scratch: Path, log_path: Path) -> RunnerExit:
        """Run the runner, recording its attempt boundaries as events of the session."""
        tail = ProgressTail(progress_path(scratch / "result.json"), lambda data: (
            self.store.add_event(session.id, "progress", child.id, data=data)))
        tail.start()
        try:
            return run_runner(argv, env=with_temp_dir(child_environment(), scratch),
                              log_path=log_path,
                              started=lambda process: self._started(child, process))
        finally:
            tail.stop()

    def _run_inline(self, session: SessionRow, child: ChildRow, config: JobConfig,
                    folders: ChildFolders, jail: tuple[str, ...],
                    log_path: Path) -> tuple[dict, RunnerExit]:
        """Run the child's loop in this thread (inline.py), its commands in `jail`."""
        cancel = CancelFlag(self._cancel_file(child))
        with self._lock:
            self._inline[child.id] = cancel
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._pid_file(child).write_text(f"inline {os.getpid()}\n", encoding="utf-8")
        record = ProgressEvents(lambda data: (
            self.store.add_event(session.id, "progress", child.id, data=data)))
        try:
            with open(log_path, "ab") as sink:
                log = ChildLog(CappedLog(sink))
                try:
                    body = run_inline(
                        session=session.id, entry=component_entry(child).to_json(),
                        config=config.to_json(), folders=folders, jail=jail,
                        environ=with_temp_dir(child_environment(), folders.scratch),
                        log=log, cancel=cancel, progress=record)
                finally:
                    log.finish()
        finally:
            with self._lock:
                self._inline.pop(child.id, None)
            self._cancel_file(child).unlink(missing_ok=True)
        return body, RunnerExit(0, log.refused())

    def _cancel_inline_elsewhere(self, children: list[ChildRow]) -> None:
        """Ask another `ccs run` to stop the named children it runs in its threads; wait
        until they have (or that process is gone)."""
        waiting = []
        for child in children:
            owner = self._inline_owner(child)
            if owner is not None:
                self._cancel_file(child).touch()
                waiting.append((child, owner))
        deadline = time.monotonic() + INLINE_STOP_SECONDS
        while waiting and time.monotonic() < deadline:
            waiting = [(child, owner) for child, owner in waiting
                       if self._pid_file(child).exists() and _alive(owner)]
            time.sleep(_POLL)
        for child in children:
            if not self._pid_file(child).exists():
                # It ended before it saw the marker: leave nothing behind.
                self._cancel_file(child).unlink(missing_ok=True)

    def _inline_owner(self, child: ChildRow) -> int | None:
        """Return the pid of the `ccs run` running `child` in a thread, if one is."""
        try:
            kind, pid = self._pid_file(child).read_text(encoding="utf-8").split()
            return int(pid) if kind == "inline" and _alive(int(pid)) else None
        except (OSError, ValueError):
            return None

    def _cancel_file(self, child: ChildRow) -> Path:
        return self.run_dir / f"{child.id}.cancel"

    def _started(self, child: ChildRow, process: subprocess.Popen) -> None:
        with self._lock:
            self._processes[child.id] = process
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._pid_file(child).write_text(f"{process.pid}\n", encoding="utf-8")

    def _pid_file(self, child: ChildRow) -> Path:
        return self.run_dir / f"{child.id}.pid"

    def _recorded_runner(self, child: ChildRow) -> int | None:
        """Return the process group another `ccs run` recorded for `child`, if it is still
        that child's runner (a pid can be reused: the command line must name the child)."""
        try:
            pid = int(self._pid_file(child).read_text(encoding="utf-8").strip())
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if child.id.encode() in command else None

    def _sandbox(self, session: SessionRow) -> SandboxPlan:
        """Return the session's sandbox plan, read once from the manifest at its base."""
        key = (session.base_sha, session.manifest_path)
        # Under the lock: the first `parallel` children start at once, and each parsing the
        # manifest for itself cost ~60 ms of CPU apiece (bench/local_run.py).
        with self._plan_lock:
            if key not in self._plans:
                self._plans[key] = session_sandbox(self.repo, session, os.environ)
            return self._plans[key]

    def _bring_back(self, child: ChildRow, checkout: Path, result: ChildResult,
                    ended: RunnerExit, where: str) -> ChildResult:
        """Fetch the child's commit onto its branch here; name the log of a failure (and the
        write the sandbox refused, if any)."""
        if result.commit:
            self.repo.fetch_child(checkout, result.commit, child.branch)
        if not result.succeeded:
            refused = f"; {refused_write_message(ended.refused)}" if ended.refused else ""
            result = replace(result, message=f"{result.message}{refused}; {where}")
        return result


def _alive(pid: int) -> bool:
    """Return True while process `pid` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def runner_command(session: SessionRow, child: ChildRow, config: JobConfig, worktree: Path,
                   result_file: Path, logs: Path) -> list[str]:
    """Return the argv that runs the action/ runner for one child."""
    entry = component_entry(child).to_json()
    return runner_argv("run", "--entry", json.dumps(entry),
                       "--config", json.dumps(config.to_json()), "--session", session.id,
                       "--workdir", str(worktree), "--result", str(result_file),
                       "--logs", str(logs), "--progress", str(progress_path(result_file)))


def progress_path(result_file: Path) -> Path:
    """Return where the runner appends its attempt boundaries (beside its result)."""
    return result_file.parent / "progress.jsonl"


def log_hint(session_id: str, component: str, folder: Path) -> str:
    """Return what a failure message says about where its log is."""
    return f"log: {folder} (`ccs logs {session_id} {component}`)"


# ccs's own credentials never reach a coder (DESIGN §3a: "less ccs's own credentials").
CCS_CREDENTIALS = ("CCS_GITHUB_TOKEN", "CCS_GITHUB_PRIVATE_KEY", "CCS_GITHUB_PRIVATE_KEY_PATH",
                   "CCS_WEBHOOK_SECRET", "CCS_API_TOKEN", "CCS_CALLBACK_SECRET",
                   "CCS_DATABASE_URL", "CCS_QUEUE_URL")


def child_environment() -> dict[str, str]:
    """Return the children's environment: ours less ccs's credentials, with our interpreter
    first on PATH."""
    env = {name: value for name, value in os.environ.items() if name not in CCS_CREDENTIALS}
    # `python` in a manifest command means the interpreter ccs runs under (its venv).
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def failed_result(child: ChildRow, message: str) -> ChildResult:
    """Return a failed result for a child that could not report by itself."""
    return ChildResult(status="failed", commit=None, branch=child.branch, attempts=0,
                       tests=TestCounts(), message=f"{child.component}: {message}")


