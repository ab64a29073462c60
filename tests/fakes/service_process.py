"""Run the real service processes (`ccs serve`, `ccs worker`) against the test GitHub.

    with FakeGitHub.start(tmp) as gh, ServiceProcess.start(tmp, service_env(gh, tmp)) as ccs:
        gh.webhook_url = ccs.webhook_url
        ...
        ccs.kill()       # SIGKILL the whole process group (web, workers, queue consumer)
        ccs.restart()    # same port, database, queue and workspace

Each process runs in its own session (process group), so a SIGKILL takes the gunicorn
workers and the queue consumer down with it, as a crash of the host would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.fakes.github import FakeGitHub

PROJECT_ROOT = Path(__file__).resolve().parents[2]
API_TOKEN = "e2e-api-token"
WEBHOOK_SECRET = "e2e-webhook-secret"
GITHUB_TOKEN = "ghp_e2e_service_token"
BOT_LOGIN = "ccs-bot"
START_TIMEOUT = 30.0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def service_env(gh: FakeGitHub, root: Path, **overrides: str) -> dict[str, str]:
    """Return the CCS_* settings pointing a service at `gh`, with its files under `root`."""
    gh.add_token(GITHUB_TOKEN, login=BOT_LOGIN)
    env = {
        "CCS_DATABASE_URL": f"sqlite:///{root / 'ccs.db'}",
        "CCS_WORKSPACE_DIR": str(root / "workspace"),
        "CCS_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "CCS_GITHUB_API_URL": gh.url,
        "CCS_GITHUB_TOKEN": GITHUB_TOKEN,
        "CCS_BOT_LOGIN": BOT_LOGIN,
        "CCS_API_TOKEN": API_TOKEN,
        "CCS_OIDC_ISSUER": gh.oidc.issuer,
        "CCS_OIDC_JWKS_URL": gh.oidc_jwks_url,
        "CCS_GITHUB_THROTTLE": "0",
        "CCS_RECONCILE_INTERVAL": "5",
        "CCS_CHILD_TIMEOUT": "120",
        "CCS_LOG_LEVEL": "INFO",
    }
    gh.webhook_secret = WEBHOOK_SECRET
    env.update(overrides)
    return env


def _base_env(settings: Mapping[str, str]) -> dict[str, str]:
    """Return the process environment: no stray CCS_* variables, the project importable."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CCS_")}
    env.update(settings)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                      env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Process:
    """One `python -m service.cli ...` process in its own process group, logging to a file."""

    def __init__(self, name: str, argv: list[str], settings: Mapping[str, str],
                 log_dir: Path) -> None:
        self.name, self.argv, self.settings = name, argv, dict(settings)
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.popen: subprocess.Popen | None = None
        self.generation = 0

    @property
    def log_path(self) -> Path:
        """Return the log file of the current (or last) run."""
        return self.log_dir / f"{self.name}-{self.generation}.log"

    def launch(self) -> None:
        """Start the process."""
        self.generation += 1
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "service.cli", *self.argv], cwd=PROJECT_ROOT,
                env=_base_env(self.settings), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    def alive(self) -> bool:
        """Return True while the process runs."""
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the process and everything it started (a crash)."""
        self._signal(signal.SIGKILL)
        self._reap(10)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the process group and wait; SIGKILL what is left after `timeout`."""
        if self.popen is None:
            return
        self._signal(signal.SIGTERM)
        if not self._reap(timeout):
            self.kill()

    def _signal(self, number: int) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, number)

    def _reap(self, timeout: float) -> bool:
        """Wait for the leader and for the rest of its group to go; return True if gone."""
        assert self.popen is not None
        deadline = time.monotonic() + timeout
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        while time.monotonic() < deadline:
            try:
                os.killpg(self.popen.pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.05)
        return False

    def logs(self) -> str:
        """Return every run's log, oldest first."""
        parts = []
        for generation in range(1, self.generation + 1):
            path = self.log_dir / f"{self.name}-{generation}.log"
            if path.exists():
                parts.append(f"----- {path.name} -----\n"
                             + path.read_text(errors="replace"))
        return "\n".join(parts)


class ServiceProcess(Process):
    """`ccs serve` on 127.0.0.1 with a free port; CCS_PUBLIC_URL is its own address."""

    def __init__(self, root: Path, settings: Mapping[str, str], *, workers: int = 1,
                 no_worker: bool = False, port: int | None = None,
                 worker_threads: int = 2) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = ["serve", "--host", "127.0.0.1", "--port", str(self.port),
                "--workers", str(workers), "--worker-threads", str(worker_threads)] + (
            ["--no-worker"] if no_worker else [])
        super().__init__("serve", argv, {"CCS_PUBLIC_URL": self.url, **settings},
                         root / "logs")

    @classmethod
    def start(cls, root: Path, settings: Mapping[str, str], **options: Any) -> ServiceProcess:
        """Start `ccs serve` and wait until /healthz answers."""
        service = cls(root, settings, **options)
        service.launch()
        service.wait_healthy()
        return service

    @property
    def webhook_url(self) -> str:
        """Return where GitHub delivers webhooks."""
        return f"{self.url}/webhooks/github"

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        """Poll /healthz until it answers 200; fail with the logs if the process dies.

        `timeout` counts from the log's last growth: a start-up that is busy (migrating,
        booting workers) on a loaded machine is waited for, one that hangs fails.
        """
        deadline, size = time.monotonic() + timeout, -1
        while time.monotonic() < deadline:
            if self._log_size() != size:
                size, deadline = self._log_size(), time.monotonic() + timeout
            if not self.alive():
                raise RuntimeError(f"ccs serve exited early:\n{self.logs()}")
            try:
                if self.request("GET", "/healthz", auth=False)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"ccs serve not healthy, its log still for {timeout}s:\n{self.logs()}")

    def _log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def restart(self) -> None:
        """Start again on the same port, database, queue and workspace."""
        if self.alive():
            self.stop()
        self.launch()
        self.wait_healthy()

    def request(self, method: str, path: str, body: Any = None, *, auth: bool | str = True,
                headers: Mapping[str, str] | None = None,
                timeout: float = 30) -> tuple[int, Any]:
        """Send one request; return (status, parsed JSON or text). `auth` may be a token."""
        data = None if body is None else (
            body if isinstance(body, bytes) else json.dumps(body).encode())
        sent = {"Content-Type": "application/json", **(headers or {})}
        if auth:
            token = auth if isinstance(auth, str) else API_TOKEN
            sent["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.url + path, data=data, headers=sent,
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def session(self, session_id: str) -> dict[str, Any]:
        """Return GET /api/v1/sessions/<id>."""
        status, body = self.request("GET", f"/api/v1/sessions/{session_id}")
        assert status == 200, (status, body)
        return body

    def sessions(self, repository: str) -> list[dict[str, Any]]:
        """Return the sessions of `repository`, newest first."""
        status, body = self.request("GET", f"/api/v1/sessions?repository={repository}")
        assert status == 200, (status, body)
        return body["sessions"]

    def wait_for_session(self, repository: str, timeout: float = 30,
                         progress: Any = None) -> dict[str, Any]:
        """Wait until `repository` has a session; return the newest (`progress`: see
        wait_until, e.g. the test GitHub's call count)."""
        return wait_until(lambda: (self.sessions(repository) or [None])[0], timeout,
                          f"no session in {repository}", self, progress=progress)

    def wait_for_status(self, session_id: str, statuses: tuple[str, ...] = (
            "complete", "needs_attention", "failed", "cancelled"),
            timeout: float = 60) -> dict[str, Any]:
        """Wait until the session is in one of `statuses`; return it.

        `timeout` counts from the session's last change, not from the call: a session that
        keeps moving on a loaded machine is waited for, one that is stuck fails.
        """
        def reached() -> dict[str, Any] | None:
            session = self.session(session_id)
            return session if session["status"] in statuses else None

        def progress() -> str:
            session = self.session(session_id)
            return json.dumps([session["status"], session.get("progress"),
                               [c["status"] for c in session.get("children", [])]])
        return wait_until(reached, timeout, f"session {session_id} not in {statuses}", self,
                          progress=progress)

    def __enter__(self) -> ServiceProcess:
        """Return the running service."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop the service."""
        self.stop()


class WorkerProcess(Process):
    """One `ccs worker` (a queue consumer) with the service's settings."""

    def __init__(self, root: Path, settings: Mapping[str, str], index: int = 0,
                 threads: int = 2) -> None:
        super().__init__(f"worker{index}", ["worker", "--threads", str(threads)], settings,
                         root / "logs")

    @classmethod
    def start(cls, root: Path, settings: Mapping[str, str], index: int = 0,
              threads: int = 2) -> WorkerProcess:
        """Start one worker."""
        worker = cls(root, settings, index, threads)
        worker.launch()
        return worker


def wait_until(predicate: Any, timeout: float, what: str,
               *processes: Process, interval: float = 0.1,
               progress: Any = None) -> Any:
    """Poll `predicate` until it returns something truthy; fail with the processes' logs.

    With `progress` (a callable returning the observed state), the deadline moves each time
    the state changes: waiting is driven by what happens, not by the clock alone.
    """
    deadline = time.monotonic() + timeout
    last = progress() if progress else None
    while True:
        value = predicate()
        if value:
            return value
        if progress is not None:
            now_state = progress()
            if now_state != last:
                last, deadline = now_state, time.monotonic() + timeout
        if time.monotonic() > deadline:
            # Head and tail: a crash at start-up would scroll away behind the polling.
            logs = "\n".join(_head_and_tail(process.logs()) for process in processes)
            raise AssertionError(f"{what} within {timeout}s\n{logs}")
        time.sleep(interval)


def _head_and_tail(text: str, keep: int = 10_000) -> str:
    if len(text) <= 2 * keep:
        return text
    return f"{text[:keep]}\n[… {len(text) - 2 * keep} characters cut …]\n{text[-keep:]}"
