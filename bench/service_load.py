"""Service load: callbacks per second and latency under concurrency, GitHub calls per session.

    python bench/service_load.py [--requests 2000] [--threads 8] [--workers 2] [--sizes 10,300]

1. **Callbacks** — one session of `requests/2` children is dispatched on the test GitHub
   (its jobs never run). Then `--threads` client threads send `--requests` result
   callbacks to a real `ccs serve`: first every child's valid result (OIDC check, jti
   record, binding, compare-and-set, fan-in task queued → 202), then a duplicate of each
   (OIDC check and CAS again → 409). Every request carries its own freshly minted token.
   Run on SQLite (web + in-process worker), then PostgreSQL + Redis (web + one `ccs worker`).
   **Baseline**: a bare Flask route doing the same OIDC check (same verifier, an in-memory
   jti set) served by gunicorn with the same settings, in the same run.
2. **GitHub API calls per session** — a whole session started by a `/ccs implement`
   comment, N instant components (a job runner that commits and calls back itself),
   every call ccs made to the test GitHub counted. Goal: constant + ⌈N/256⌉ dispatches.

Writes results/service_load.json and .md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import RESULTS  # noqa: E402
from tests.fakes.fast_jobs import CONTEXT, FastJobRunner, post_result, project_files  # noqa: E402
from tests.fakes.github import FakeGitHub  # noqa: E402
from tests.fakes.service_process import (  # noqa: E402
    ServiceProcess,
    WorkerProcess,
    free_port,
    service_env,
    wait_until,
)

POSTGRES_URL = os.environ.get("CCS_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CCS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_DB = 12
IDENTITY = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "ccs bench",
            "GIT_AUTHOR_EMAIL": "bench@example.invalid", "GIT_COMMITTER_NAME": "ccs bench",
            "GIT_COMMITTER_EMAIL": "bench@example.invalid"}


# ----- the baseline server --------------------------------------------------------------


def baseline_server(port: int, issuer: str, jwks_url: str, workers: int) -> None:
    """Serve a bare Flask result route that does ccs's OIDC check, with ccs's gunicorn options."""
    from flask import Flask, jsonify, request

    from service.auth import AuthError
    from service.auth.api_token import bearer_token
    from service.auth.oidc import OidcVerifier
    from service.cli.serve import WORKER_STOP_SECONDS, WebApplication

    audience = f"http://127.0.0.1:{port}"

    class Baseline(WebApplication):
        def load(self) -> Any:
            app = Flask("baseline")
            verifier = OidcVerifier(issuer=issuer, audience=audience, jwks_url=jwks_url)
            seen: set[str] = set()
            lock = threading.Lock()

            def seen_jti(jti: str) -> bool:
                with lock:
                    known = jti in seen
                    seen.add(jti)
                return known

            @app.post("/api/v1/children/<child_id>/result")
            def result(child_id: str) -> Any:
                try:
                    verifier.verify(bearer_token(request.headers.get("Authorization")),
                                    seen_jti=seen_jti)
                except AuthError as error:
                    return jsonify({"error": error.code}), error.status
                request.get_json()
                return jsonify({"status": "accepted"}), 202

            @app.get("/healthz")
            def healthz() -> Any:
                return jsonify({"status": "ok"})
            return app

    Baseline({"bind": f"127.0.0.1:{port}", "workers": workers, "accesslog": "-",
              "graceful_timeout": WORKER_STOP_SECONDS}).run()


class BaselineProcess:
    """The baseline server as a subprocess."""

    def __init__(self, root: Path, gh: FakeGitHub, workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (root / "baseline.log").open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, __file__, "baseline-server", "--port", str(self.port),
             "--issuer", gh.oidc.issuer, "--jwks", gh.oidc_jwks_url,
             "--workers", str(workers)],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: _healthy(self.url), 30, "baseline server did not start")

    def stop(self) -> None:
        self.popen.terminate()
        self.popen.wait(30)
        self.log.close()


def _healthy(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


# ----- callbacks under load -------------------------------------------------------------


def dispatched_session(gh: FakeGitHub, ccs: ServiceProcess, repo: str,
                       children: int) -> dict[str, Any]:
    """Start a session of `children` components and wait until every one is dispatched."""
    status, created = ccs.request("POST", "/api/v1/sessions",
                                  {"repository": repo, "context": CONTEXT})
    assert status == 201, created
    # Children are marked dispatched just before the dispatch is sent: wait for the jobs too.
    session = wait_until(lambda: (lambda s: s if s["progress"]["running"] == children else None)(
        ccs.session(created["id"])), 120, "children not dispatched", ccs)
    wait_until(lambda: sum(len(run.jobs) for run in gh.runs(repo)) == children, 60,
               "jobs not created", ccs)
    return session


def callback_requests(gh: FakeGitHub, repo: str, url: str, audience: str,
                      children: list[dict[str, Any]], base_sha: str) -> list[tuple[str, str,
                                                                                   dict]]:
    """Return (url, token, body) per request: each child's result, then a duplicate of each."""
    run_of = {job.entry["child"]: (run.id, job.entry["child_branch"])
              for run in gh.runs(repo) for job in run.jobs}
    requests = []
    for _ in range(2):
        for child in children:
            run_id, branch = run_of[child["id"]]
            body = {"status": "succeeded", "commit": base_sha, "branch": branch,
                    "attempts": 1, "tests": {"passed": 1, "failed": 0, "errors": 0,
                                             "skipped": 0},
                    "changed_files": [], "message": "", "run_id": run_id}
            requests.append((f"{url}/api/v1/children/{child['id']}/result",
                             gh.oidc_token(repo, run_id, audience), body))
    return requests


def fire(requests: list[tuple[str, str, dict]], threads: int) -> dict[str, Any]:
    """Send the requests from `threads` threads in order; return throughput and latencies."""
    latencies: dict[int, list[float]] = {}
    lock = threading.Lock()

    def send(item: tuple[str, str, dict]) -> None:
        started = time.perf_counter()
        status = post_result(*item)
        elapsed = time.perf_counter() - started
        with lock:
            latencies.setdefault(status, []).append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, requests))
    wall = time.perf_counter() - started
    every = sorted(x for values in latencies.values() for x in values)
    return {"requests": len(requests), "seconds": round(wall, 3),
            "per_second": round(len(requests) / wall, 1),
            "p50_ms": round(_percentile(every, 50) * 1000, 1),
            "p99_ms": round(_percentile(every, 99) * 1000, 1),
            "by_status": {str(status): {"count": len(values),
                                        "p50_ms": round(_percentile(sorted(values), 50) * 1000,
                                                        1),
                                        "p99_ms": round(_percentile(sorted(values), 99) * 1000,
                                                        1)}
                          for status, values in sorted(latencies.items())}}


def _percentile(values: list[float], percent: float) -> float:
    if not values:
        return 0.0
    index = min(len(values) - 1, max(0, math.ceil(percent / 100 * len(values)) - 1))
    return values[index]


def callback_load(root: Path, backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Measure ccs and the baseline on one database backend."""
    children = args.requests // 2
    with FakeGitHub.start(root, job_runner=None) as gh:
        repo = "load/shop"
        gh.create_repository(repo, files=project_files(children))
        settings = {**service_env(gh, root), **IDENTITY, "HOME": str(root),
                    "CCS_LOG_LEVEL": "WARNING"}
        extra: list[Any] = []
        options: dict[str, Any] = {"workers": args.workers}
        if backend == "postgresql":
            database, queue = fresh_postgres(), fresh_redis()
            extra = [database, queue]
            settings.update(CCS_DATABASE_URL=database[0], CCS_QUEUE_URL=queue[0])
            options["no_worker"] = True
        ccs = ServiceProcess.start(root, settings, **options)
        workers = ([WorkerProcess.start(root, {**settings, "CCS_PUBLIC_URL": ccs.url})]
                   if backend == "postgresql" else [])
        try:
            gh.webhook_url = ccs.webhook_url
            session = dispatched_session(gh, ccs, repo, children)
            base_sha = session["base_sha"]
            ccs_requests = callback_requests(gh, repo, ccs.url, ccs.url, session["children"],
                                             base_sha)
            measured = fire(ccs_requests, args.threads)
            baseline = BaselineProcess(root, gh, args.workers)
            try:
                base_requests = callback_requests(gh, repo, baseline.url, baseline.url,
                                                  session["children"], base_sha)
                measured_baseline = fire(base_requests, args.threads)
            finally:
                baseline.stop()
        finally:
            for process in [*workers, ccs]:
                process.stop()
            for cleanup in extra:
                cleanup[1]()
    expected = {"202": children, "409": children}
    got = {status: value["count"] for status, value in measured["by_status"].items()}
    return {"backend": backend, "children": children, "threads": args.threads,
            "gunicorn_workers": args.workers, "ccs": measured, "baseline": measured_baseline,
            "statuses_as_expected": got == expected}


def fresh_postgres() -> tuple[str, Any]:
    """Create an empty database; return its URL and a function that drops it."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_URL)
    name = f"ccs_bench_{uuid.uuid4().hex[:10]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return url.set(database=name).render_as_string(hide_password=False), drop


def fresh_redis() -> tuple[str, Any]:
    """Return a flushed Redis database URL and a function that flushes it again."""
    import redis
    from sqlalchemy.engine import make_url

    url = make_url(REDIS_URL).set(database=str(REDIS_DB)).render_as_string(
        hide_password=False)
    client = redis.Redis.from_url(url)
    client.flushdb()
    return url, client.flushdb


def services_reachable() -> str | None:
    """Return why PostgreSQL + Redis cannot be used, or None."""
    try:
        fresh_postgres()[1]()
        fresh_redis()[1]()
    except Exception as error:  # noqa: BLE001 - any failure means "skip that backend"
        return str(error)
    return None


# ----- GitHub API calls per session -----------------------------------------------------


def call_kind(method: str, path: str) -> str:
    """Name an API call by its route (numbers and names folded)."""
    path = re.sub(r"^/repos/[^/]+/[^/]+", "/repos/{repo}", path)
    path = re.sub(r"/\d+", "/{n}", path)
    path = re.sub(r"/git/(refs|ref|matching-refs)/.+", r"/git/\1/{ref}", path)
    path = re.sub(r"/workflows/[^/]+/", "/workflows/{wf}/", path)
    path = re.sub(r"/(collaborators)/[^/]+/", r"/\1/{user}/", path)
    return f"{method} {path}"


def api_calls(root: Path, components: int) -> dict[str, Any]:
    """Run one comment-started session of `components` instant components; count calls."""
    with FakeGitHub.start(root, job_runner=None, max_parallel=16) as gh:
        gh.job_runner = FastJobRunner(gh)
        repo = "calls/shop"
        gh.create_repository(repo, files=project_files(components))
        gh.add_user("alice", permission="write", repo=repo)
        settings = {**service_env(gh, root), **IDENTITY, "HOME": str(root),
                    "CCS_LOG_LEVEL": "WARNING"}
        ccs = ServiceProcess.start(root, settings)
        try:
            gh.webhook_url = ccs.webhook_url
            issue = gh.create_issue(repo)
            started = time.perf_counter()
            gh.send_webhook("issue_comment", gh.comment_payload(
                repo, issue.number, f"/ccs implement {CONTEXT}"))
            session = ccs.wait_for_session(repo)
            session = ccs.wait_for_status(session["id"], timeout=300)
            wall = time.perf_counter() - started
        finally:
            ccs.stop()
        calls = [call for call in gh.calls if not call.path.startswith("/_oidc")]
    kinds = Counter(call_kind(call.method, call.path) for call in calls)
    dispatches = sum(n for kind, n in kinds.items() if kind.endswith("/dispatches"))
    return {"components": components, "status": session["status"],
            "session_seconds": round(wall, 2), "calls": len(calls),
            "dispatches": dispatches, "expected_dispatches": math.ceil(components / 256),
            "calls_without_dispatches": len(calls) - dispatches,
            "by_kind": dict(sorted(kinds.items()))}


# ----- report ---------------------------------------------------------------------------


def table(results: dict[str, Any]) -> str:
    """Return the Markdown tables of a run."""
    lines = ["| backend | server | req/s | p50 ms | p99 ms | 202 p50/p99 ms | 409 p50/p99 ms |",
             "|---|---|---:|---:|---:|---|---|"]
    for run in results["callbacks"]:
        for server in ("ccs", "baseline"):
            m = run[server]
            by = m["by_status"]

            def pair(status: str, by: dict = by) -> str:
                return (f"{by[status]['p50_ms']} / {by[status]['p99_ms']}"
                        if status in by else "—")
            lines.append(f"| {run['backend']} | {server} | {m['per_second']} | {m['p50_ms']} "
                         f"| {m['p99_ms']} | {pair('202')} | {pair('409')} |")
    lines += ["", "| components | API calls | dispatches (goal ⌈N/256⌉) | calls without "
                  "dispatches | session s | status |", "|---:|---:|---|---:|---:|---|"]
    for run in results["api_calls"]:
        lines.append(f"| {run['components']} | {run['calls']} | {run['dispatches']} "
                     f"({run['expected_dispatches']}) | {run['calls_without_dispatches']} | "
                     f"{run['session_seconds']} | {run['status']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    server = sub.add_parser("baseline-server")
    server.add_argument("--port", type=int, required=True)
    server.add_argument("--issuer", required=True)
    server.add_argument("--jwks", required=True)
    server.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (both servers)")
    parser.add_argument("--sizes", default="10,300")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "baseline-server":
        baseline_server(args.port, args.issuer, args.jwks, args.workers)
        return 0
    results: dict[str, Any] = {"callbacks": [], "api_calls": [], "machine": {
        "cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    backends = ["sqlite"]
    reason = services_reachable()
    if reason is None:
        backends.append("postgresql")
    else:
        results["skipped_postgresql"] = reason
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix=f"ccs-load-{backend}-") as temp:
            results["callbacks"].append(callback_load(Path(temp), backend, args))
            print(json.dumps(results["callbacks"][-1]), file=sys.stderr)
    for size in [int(n) for n in args.sizes.split(",") if n]:
        with tempfile.TemporaryDirectory(prefix=f"ccs-calls-{size}-") as temp:
            results["api_calls"].append(api_calls(Path(temp), size))
            print(json.dumps(results["api_calls"][-1]), file=sys.stderr)
    summary = table(results)
    print(summary)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "service_load.json").write_text(json.dumps(results, indent=2) + "\n")
        (RESULTS / "service_load.md").write_text(
            "# Service load\n\n`python bench/service_load.py` "
            f"(requests={args.requests}, threads={args.threads}, gunicorn workers="
            f"{args.workers}, {results['machine']['cpus']} CPUs)\n\n" + summary + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

