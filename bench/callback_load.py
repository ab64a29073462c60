"""The child-result callback through `ccs serve` against a bare Flask route, open loop.

    python bench/callback_load.py [--sizes 100] [--seconds 4] [--pairs 5] [--workers 2]
    python bench/callback_load.py --quick        # 100 req/s for 0.5 s, 2 pairs, seconds

Per backend — SQLite (web + its in-process queue worker), then PostgreSQL + Redis (web +
one `ccs worker`) when both answer on 127.0.0.1 — one session of many children is
dispatched on the test GitHub (its jobs never run; one child is never reported, so the
session never fans in). Then, interleaved (ABAB…), each run sends `rate * seconds` fresh
children's valid results on a fixed schedule (bench/_open_loop.py), every request with
its own freshly minted OIDC token, to:

- subject: the real `ccs serve` (`--workers` gunicorn workers) and its queue worker;
- baseline: bench/_bare_route.py under gunicorn with the same options and worker count,
  doing the callback's irreducible work: OIDC verify with the same keys, one token-id
  insert and one compare-and-set row update in one transaction of the same database.

Figures per run: p50/p90/p99/max latency from each request's due time, and CPU per
request of the server's process groups (web workers, gunicorn master, queue worker; not
the database or Redis servers). Then, on PostgreSQL, database round trips per accepted
callback of the web workers: a second `ccs serve --no-worker` (and a second baseline)
whose database URL points at a counting loopback proxy (bench/_pgproxy.py), 40 callbacks
one after another after a warm-up. Goals: p99 < 50 ms, CPU baseline/ccs ≥ 0.8, round
trips ≤ 5. Writes results/callback_load.{json,md,png}.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from _bare_route import create_tables  # noqa: E402 - bench/ is put on the path just above
from _common import (  # noqa: E402
    Comparison,
    Figures,
    arguments,
    describe,
    interleave,
    pairs_of,
    report,
    should_write,
    sizes_of,
)
from _open_loop import Call, group_cpu_seconds, open_loop, post  # noqa: E402
from _pgproxy import CountingProxy  # noqa: E402
from service_load import (  # noqa: E402
    IDENTITY,
    POSTGRES_URL,
    _healthy,
    dispatched_session,
    fresh_postgres,
    fresh_redis,
    services_reachable,
)
from sqlalchemy.engine import make_url  # noqa: E402

from tests.fakes.fast_jobs import project_files  # noqa: E402
from tests.fakes.github import FakeGitHub  # noqa: E402
from tests.fakes.service_process import (  # noqa: E402
    ServiceProcess,
    WorkerProcess,
    free_port,
    service_env,
    wait_until,
)

GOAL = "p99 < 50 ms at 100 req/s; CPU baseline/ccs >= 0.8; <= 5 round trips (PostgreSQL)"
REPO = "load/shop"
WARMUP_CALLS = 50
TRIP_WARMUP, TRIP_CALLS = 10, 40


class Baseline:
    """bench/_bare_route.py as a gunicorn process group of its own."""

    def __init__(self, root: Path, gh: FakeGitHub, database: str, workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (root / f"baseline-{self.port}.log").open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "_bare_route.py"), "--port", str(self.port),
             "--issuer", gh.oidc.issuer, "--jwks", gh.oidc_jwks_url, "--database", database,
             "--workers", str(workers)],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: _healthy(self.url), 30,
                   f"the baseline did not start (see {self.log.name})")

    def stop(self) -> None:
        """Stop gunicorn and its workers."""
        self.popen.terminate()
        self.popen.wait(30)
        self.log.close()


class Children:
    """The dispatched children, handed out in slices so every result is a first one."""

    def __init__(self, gh: FakeGitHub, session: dict[str, Any]) -> None:
        run_of = {job.entry["child"]: (run.id, job.entry["child_branch"])
                  for run in gh.runs(REPO) for job in run.jobs}
        self.rows = [(child["id"], *run_of[child["id"]]) for child in session["children"]]
        self.base_sha = session["base_sha"]
        self.next = 0

    def take(self, count: int) -> list[tuple[str, int, str]]:
        """Return the next `count` children never reported yet."""
        if self.next + count >= len(self.rows):  # keep the last one: no fan-in
            raise RuntimeError("out of children: raise the session size in `needed`")
        rows = self.rows[self.next:self.next + count]
        self.next += count
        return rows

    def calls(self, gh: FakeGitHub, url: str, rows: list[tuple[str, int, str]]) -> list[Call]:
        """Return one valid result per child for the server at `url` (its own audience)."""
        return [Call(f"{url}/api/v1/children/{child}/result",
                     gh.oidc_token(REPO, run_id, url),
                     {"status": "succeeded", "commit": self.base_sha, "branch": branch,
                      "attempts": 1, "changed_files": [], "message": "", "run_id": run_id,
                      "tests": {"passed": 1, "failed": 0, "errors": 0, "skipped": 0}})
                for child, run_id, branch in rows]


def measured(gh: FakeGitHub, url: str, groups: list[int], rows: list, children: Children,
             rate: float) -> Figures:
    """Send one slice open loop to `url`; return latency and CPU per request."""
    calls = children.calls(gh, url, rows)
    cpu = group_cpu_seconds(groups)
    result = open_loop(calls, rate)
    cpu = group_cpu_seconds(groups) - cpu
    accepted = result["statuses"].get("202", 0)
    if not accepted:
        raise RuntimeError(f"no callback to {url} was accepted: {result['statuses']}")
    return {"seconds": result["wall_s"], "p50_ms": result["p50_ms"],
            "p90_ms": result["p90_ms"], "p99_ms": result["p99_ms"], "max_ms": result["max_ms"],
            "cpu_ms_per_request": 1000 * cpu / len(calls), "requests": len(calls),
            "accepted": accepted, "late_sends": result["late_sends"]}


def start_stack(stack: ExitStack, root: Path, backend: str, needed: int,
                workers: int) -> dict[str, Any]:
    """Start the test GitHub, `ccs serve` (+ worker), a dispatched session and the baseline."""
    gh = stack.enter_context(FakeGitHub.start(root, job_runner=None))
    gh.create_repository(REPO, files=project_files(needed))
    settings = {**service_env(gh, root), **IDENTITY, "HOME": str(root),
                "CCS_LOG_LEVEL": "WARNING", "CCS_RECONCILE_INTERVAL": "3600"}
    options: dict[str, Any] = {"workers": workers}
    if backend == "postgresql":
        (database, drop), (queue, flush) = fresh_postgres(), fresh_redis()
        stack.callback(drop)
        stack.callback(flush)
        settings.update(CCS_DATABASE_URL=database, CCS_QUEUE_URL=queue)
        options["no_worker"] = True
    ccs = ServiceProcess.start(root, settings, **options)
    stack.callback(ccs.stop)
    groups = [ccs.popen.pid]
    if backend == "postgresql":
        worker = WorkerProcess.start(root, {**settings, "CCS_PUBLIC_URL": ccs.url})
        stack.callback(worker.stop)
        groups.append(worker.popen.pid)
    gh.webhook_url = ccs.webhook_url
    children = Children(gh, dispatched_session(gh, ccs, REPO, needed))
    create_tables(settings["CCS_DATABASE_URL"], [(c, REPO, r) for c, r, _ in children.rows])
    baseline = Baseline(root, gh, settings["CCS_DATABASE_URL"], workers)
    stack.callback(baseline.stop)
    return {"gh": gh, "ccs": ccs, "groups": groups, "children": children,
            "baseline": baseline, "settings": settings}


def round_trips(stack: ExitStack, root: Path, parts: dict[str, Any],
                workers: int) -> dict[str, float]:
    """Count database round trips per accepted callback of ccs's web and of the baseline."""
    gh, children, settings = parts["gh"], parts["children"], parts["settings"]
    target = make_url(POSTGRES_URL)
    proxy = CountingProxy((target.host or "127.0.0.1", target.port or 5432))
    stack.callback(proxy.stop)
    proxied = make_url(settings["CCS_DATABASE_URL"]).set(
        host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    (root / "proxied").mkdir()
    ccs = ServiceProcess.start(root / "proxied", {**settings, "CCS_DATABASE_URL": proxied},
                               workers=workers, no_worker=True)
    stack.callback(ccs.stop)
    baseline = Baseline(root, gh, proxied, workers)
    stack.callback(baseline.stop)
    figures = {}
    for name, url in (("ccs", ccs.url), ("baseline", baseline.url)):
        for call in children.calls(gh, url, children.take(TRIP_WARMUP)):
            post(call)  # every web worker opens its connections and prepares its statements
        calls = children.calls(gh, url, children.take(TRIP_CALLS))
        proxy.reset()
        accepted = sum(post(call) == 202 for call in calls)
        figures[name] = proxy.round_trips / max(1, accepted)
        figures[f"{name}_accepted"] = accepted
    return figures


def run_backend(root: Path, backend: str, args: Any) -> tuple[list[Comparison], dict]:
    """Measure one backend at every rate; return its comparisons and round trips."""
    rates, pairs = sizes_of(args), pairs_of(args)
    per_run = {rate: max(1, int(rate * args.seconds)) for rate in rates}
    trips = 2 * (TRIP_WARMUP + TRIP_CALLS) if backend == "postgresql" else 0
    needed = WARMUP_CALLS + pairs * sum(per_run.values()) + trips + 1
    comparisons, extra = [], {}
    with ExitStack() as stack:
        parts = start_stack(stack, root, backend, needed, args.workers)
        gh, children = parts["gh"], parts["children"]
        warmup = children.take(WARMUP_CALLS)
        for url in (parts["ccs"].url, parts["baseline"].url):
            for call in children.calls(gh, url, warmup):
                post(call)  # warm both servers' workers: imports, connections, JWKS cache
        baseline_groups = [parts["baseline"].popen.pid]
        for rate in rates:
            rows = [children.take(per_run[rate]) for _ in range(pairs)]
            turn = {"ccs": iter(rows), "baseline": iter(rows)}
            p99 = interleave(
                f"{backend} p99", rate,
                lambda r=rate, t=turn: measured(gh, parts["ccs"].url, parts["groups"],
                                                next(t["ccs"]), children, r),
                lambda r=rate, t=turn: measured(gh, parts["baseline"].url, baseline_groups,
                                                next(t["baseline"]), children, r),
                pairs=pairs, metric="p99_ms", warmup=False)
            cpu = Comparison(f"{backend} CPU", rate, "cpu_ms_per_request", p99.subject,
                             p99.baseline)
            print("  " + describe(cpu), file=sys.stderr)
            comparisons += [p99, cpu]
        if backend == "postgresql":
            extra["round_trips"] = round_trips(stack, root, parts, args.workers)
            print(f"  round trips per accepted callback: {extra['round_trips']}",
                  file=sys.stderr)
    return comparisons, extra


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark on SQLite and, when reachable, PostgreSQL + Redis."""
    parser = arguments(__doc__.splitlines()[0], "100", "100")
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="seconds of arrivals per run (4; 0.5 with --quick)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, both (2)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = 0.5
    comparisons: list[Comparison] = []
    extra: dict[str, Any] = {"workers": args.workers, "seconds_per_run": args.seconds}
    backends = ["sqlite"]
    reason = services_reachable()
    if reason is None:
        backends.append("postgresql")
    else:
        extra["skipped_postgresql"] = reason
        print(f"  PostgreSQL + Redis skipped: {reason}", file=sys.stderr)
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix=f"ccs-bench-callback-{backend}-") as temp:
            found, figures = run_backend(Path(temp), backend, args)
            comparisons += found
            extra.update({f"{backend}_{k}": v for k, v in figures.items()})
    if should_write(args):
        report("callback_load", "Child-result callback: ccs serve vs a bare Flask route",
               comparisons, goal=GOAL, ylabel="p99 ms / CPU ms per request", unit="ms",
               extra=extra, notes=notes(extra))
    return 0


def notes(extra: dict[str, Any]) -> str:
    """Return the Markdown lines under the table: round trips and what was skipped."""
    lines = [f"{extra['workers']} gunicorn workers each; {extra['seconds_per_run']} s of "
             "arrivals per run; N = offered requests per second. `ratio` is ccs / baseline "
             "(for CPU the goal baseline/ccs ≥ 0.8 is a ratio ≤ 1.25)."]
    trips = extra.get("postgresql_round_trips")
    if trips:
        lines.append(f"Database round trips per accepted callback on PostgreSQL (web "
                     f"workers, counting proxy): ccs {trips['ccs']:.1f}, baseline "
                     f"{trips['baseline']:.1f}.")
    if "skipped_postgresql" in extra:
        lines.append(f"PostgreSQL + Redis skipped: {extra['skipped_postgresql']}")
    return "\n\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
