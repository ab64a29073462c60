"""Local engine at scale: orchestration overhead, finalize vs plain git, peak RSS.

    python bench/local_scale.py [--sizes 10,50,200] [--parallel 8] [--repeat 1]

For each N it generates a repository with N components whose coder and test commands are
tiny stdlib scripts (the coder writes the implementation and test files, the test command
writes a JUnit report with one passing test), then:

1. baseline: runs the same `python -m action run` commands in worktrees made by plain
   `git worktree add` (removed with `git worktree remove`), with the same parallelism;
2. ccs: runs a whole local session (open_runtime → start → wait) in a fresh subprocess, so
   its peak RSS is its own, timing the runner processes, Validate and Finalize from inside;
3. merge baselines: the same child commits merged by plain git — sequential
   `git merge --no-edit` in a fresh worktree at the base (THE baseline), and a
   `git merge-tree --write-tree` + `git commit-tree` loop.

Overhead per component = (ccs session wall - baseline wall) / N. Figures are printed and
written to bench/results/local_scale.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from _common import (  # noqa: E402
    Stopwatch,
    all_cpu_seconds,
    cpu_seconds,
    machine,
    peak_rss_mib,
    table,
    write_results,
)

CONTEXT = "bench"
IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@ccs.invalid"]
GOAL_OVERHEAD_MS = 50.0
GOAL_FINALIZE_RATIO = 2.0

CODER = '''\
"""Bench coder: write the component's implementation and test files, nothing else."""
import os
import pathlib

for variable, text in (("CCS_IMPLEMENTATION", "VALUE = 1\\n"),
                       ("CCS_TEST", "def test_value():\\n    assert True\\n")):
    path = pathlib.Path(os.environ[variable])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
'''

FAKE_TEST = '''\
"""Bench test command: write a JUnit report with one passing test to argv[1]."""
import sys

with open(sys.argv[1], "w") as report:
    report.write('<testsuite name="bench" tests="1" failures="0" errors="0" skipped="0">'
                 '<testcase classname="bench" name="test_value" time="0"/></testsuite>')
'''


def component_names(n: int) -> list[str]:
    """Return N component names in spawn order (equal priority, so by name)."""
    return [f"c{i:04d}" for i in range(n)]


def manifest_text(n: int, parallel: int) -> str:
    """Return a manifest with one context of N components, no verify, one attempt."""
    lines = [
        "version: 1", "base: main", "paths:",
        "  design: docs/design/{context}/{component}.md",
        "  implementation: src/{context}/{component}.py",
        "  test: tests/{context}/test_{component}.py",
        "coder:", '  command: ["python", "-S", "tools/coder.py"]', "  timeout: 60",
        "  attempts: 1",
        "test:", '  command: ["python", "-S", "tools/fake_test.py", "{junit}"]', "  timeout: 60",
        f"parallel: {parallel}", "pull_request: {draft: true}",
        "contexts:", f"  {CONTEXT}:", "    description: generated for the scale benchmark",
        "    components:",
    ]
    lines += [f"      - name: {name}" for name in component_names(n)]
    return "\n".join(lines) + "\n"


def git(cwd: Path, *args: str, env: dict | None = None) -> str:
    """Run git and return stdout; raise with stderr on failure."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False,
                          env={**os.environ, **env} if env else None)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:3])} failed: {done.stderr.strip()}")
    return done.stdout


def make_repo(path: Path, n: int, parallel: int) -> str:
    """Create the generated repository at `path`; return the base commit."""
    (path / ".github").mkdir(parents=True)
    (path / ".github" / "ccs.yml").write_text(manifest_text(n, parallel), encoding="utf-8")
    (path / "tools").mkdir()
    (path / "tools" / "coder.py").write_text(CODER, encoding="utf-8")
    (path / "tools" / "fake_test.py").write_text(FAKE_TEST, encoding="utf-8")
    design = path / "docs" / "design" / CONTEXT
    design.mkdir(parents=True)
    for name in component_names(n):
        (design / f"{name}.md").write_text(f"# {name}\n\nReturn VALUE = 1.\n", encoding="utf-8")
    git(path, "init", "--quiet", "--initial-branch=main")
    git(path, "add", "-A")
    # A fixed date makes both generated repositories start at the same commit.
    date = "2024-01-01T00:00:00+00:00"
    git(path, *IDENTITY, "commit", "--quiet", "-m", "bench: generated repository",
        env={"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date})
    return git(path, "rev-parse", "HEAD").strip()


# Baseline: the same runner commands in plain git worktrees --------------------------------

def baseline_children(repo: Path, base_sha: str, parallel: int, scratch: Path) -> dict:
    """Run every component's runner in a plain worktree, `parallel` at once; time it all."""
    from service.adapters.local.executor import child_environment
    from service.adapters.manifest.parse import parse_manifest

    manifest = parse_manifest((repo / ".github" / "ccs.yml").read_text(), ".github/ccs.yml")
    config = json.dumps(manifest.job_config().to_json())
    components = manifest.components(CONTEXT, None)
    env = child_environment()
    durations: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    # Concurrent `git worktree add`/`remove` in one repository race inside git (git 2.39:
    # "fatal: failed to read .git/worktrees/<name>/commondir"), so they take turns.
    worktree_lock = threading.Lock()

    def one(component) -> None:
        workdir = Path(tempfile.mkdtemp(prefix=f"base-{component.name}-", dir=scratch))
        checkout, result = workdir / "checkout", workdir / "result.json"
        entry = {"child": f"base{component.name}", "component": component.name,
                 "context": CONTEXT, "child_branch": f"ccs-base-{component.name}",
                 "design": component.design, "implementation": component.implementation,
                 "test": component.test, "allow": []}
        argv = [sys.executable, "-m", "action", "run", "--entry", json.dumps(entry),
                "--config", config, "--session", "baseline", "--workdir", str(checkout),
                "--result", str(result)]
        with worktree_lock:
            git(repo, "worktree", "add", "--quiet", "--detach", str(checkout), base_sha)
        with open(workdir / "runner.log", "ab") as log:
            started = time.perf_counter()
            subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                           check=False)
            elapsed = time.perf_counter() - started
        status = json.loads(result.read_text())["status"] if result.exists() else "no result"
        with worktree_lock:
            git(repo, "worktree", "remove", "--force", str(checkout))
        with lock:
            durations.append(elapsed)
            if status != "succeeded":
                failures.append(f"{component.name}: {status}")

    cpu_before, started = all_cpu_seconds(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(one, components))
    wall = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"baseline children failed: {failures[:5]}")
    return {"wall_s": wall, "cpu_s": all_cpu_seconds() - cpu_before,
            "runner_sum_s": sum(durations),
            "runner_mean_ms": 1000 * statistics.mean(durations)}


# Baseline: the same merges by plain git ----------------------------------------------------

def baseline_merges(repo: Path, base_sha: str, commits: list[str], scratch: Path) -> dict:
    """Merge the child commits in order with plain git, two ways; time each."""
    checkout = scratch / "merge-checkout"
    git(repo, "worktree", "add", "--quiet", "--detach", str(checkout), base_sha)
    started = time.perf_counter()
    for commit in commits:
        git(checkout, *IDENTITY, "merge", "--quiet", "--no-edit", commit)
    plain_merge = time.perf_counter() - started
    git(repo, "worktree", "remove", "--force", str(checkout))

    started = time.perf_counter()
    current = base_sha
    for commit in commits:
        tree = git(repo, "merge-tree", "--write-tree", current, commit).split("\n")[0].strip()
        current = git(repo, *IDENTITY, "commit-tree", tree, "-p", current, "-p", commit,
                      "-m", "merge").strip()
    tree = git(repo, "rev-parse", f"{current}^{{tree}}").strip()
    git(repo, *IDENTITY, "commit-tree", tree, "-p", base_sha, "-m", "squash")
    merge_tree_loop = time.perf_counter() - started
    return {"plain_git_merge_s": plain_merge, "merge_tree_loop_s": merge_tree_loop}


# The ccs session, run in a fresh subprocess ----------------------------------------------

class _TimedPopen(subprocess.Popen):
    """Popen that records how long the runner process lived (start → wait returned)."""

    durations: list[float] = []  # one list per worker process
    lock = threading.Lock()

    def __init__(self, *args, **kwargs) -> None:
        self._started = time.perf_counter()
        super().__init__(*args, **kwargs)

    def wait(self, timeout=None):
        code = super().wait(timeout)
        with self.lock:
            self.durations.append(time.perf_counter() - self._started)
        return code


class _SubprocessShim:
    """Stands in for the `subprocess` module inside executor_local only."""

    Popen = _TimedPopen

    def __getattr__(self, name: str):
        return getattr(subprocess, name)


def _instrument(watch: Stopwatch) -> None:
    """Wrap the executor, git adapter, store, Validate and Finalize to time and count them."""
    from service.orchestrator.core import Orchestrator

    from service.adapters.db.store import Store
    from service.adapters.git_repo import GitRepository
    from service.adapters.local import executor as executor_local
    from service.orchestrator.finalize import Finalizer

    executor_local.subprocess = _SubprocessShim()
    state = {"phase": ""}
    lock = threading.Lock()

    def phase() -> str:
        # Validate and Finalize run alone (in the last child's thread); otherwise the
        # executor's threads do per-child work and the main thread does Initialize/Spawn.
        if state["phase"]:
            return state["phase"]
        return "child" if threading.current_thread().name.startswith("ccs-child") else "start"

    def wrap(cls, name: str, key_of) -> None:
        original = getattr(cls, name)

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                with lock:
                    watch.add(key_of(args), time.perf_counter() - started)

        setattr(cls, name, wrapper)

    wrap(GitRepository, "run", lambda a: f"git[{phase()}] "
         + (f"worktree {a[2]}" if a[1] == "worktree" else a[1]))
    for name in ("add_worktree", "remove_worktree"):  # with the wait for the worktree lock
        wrap(GitRepository, name, lambda a, name=name: f"git[{phase()}] {name} (with wait)")
    wrap(GitRepository, "blob_sizes", lambda a: f"git[{phase()}] cat-file --batch")
    for name in ("session", "children", "child", "child_with_session", "move_child",
                 "move_session", "update_child", "update_session", "child_status_counts",
                 "add_children", "add_session", "log"):
        wrap(Store, name, lambda a, name=name: f"db[{phase()}] {name}")

    def phased(cls, name: str, phase: str) -> None:
        original = getattr(cls, name)

        def wrapper(*args, **kwargs):
            before, state["phase"] = state["phase"], phase
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                watch.add(phase, time.perf_counter() - started)
                state["phase"] = before

        setattr(cls, name, wrapper)

    phased(Orchestrator, "validate", "validate")  # includes Finalize, subtracted below
    phased(Finalizer, "finalize", "finalize")


def worker(repo: Path, parallel: int) -> dict:
    """Run one ccs session in this (fresh) process and return its figures."""
    from service.bootstrap import open_runtime

    watch = Stopwatch()
    _instrument(watch)
    started = time.perf_counter()
    runtime = open_runtime(repo, parallel)
    open_s = time.perf_counter() - started
    rss_before = peak_rss_mib()
    cpu_before, all_before = cpu_seconds(), all_cpu_seconds()
    started = time.perf_counter()
    session = runtime.orchestrator.start(repository=runtime.repository_key, context=CONTEXT,
                                         base_ref="main", parallel=parallel)
    runtime.executor.wait()
    wall = time.perf_counter() - started
    cpu, all_cpu = cpu_seconds() - cpu_before, all_cpu_seconds() - all_before
    rss_peak = peak_rss_mib()
    session = runtime.store.session(session.id)
    children = runtime.store.children(session.id)
    runtime.close()
    runners = _TimedPopen.durations
    return {
        "status": session.status, "message": session.message, "base_sha": session.base_sha,
        "commits": [c.commit for c in children],
        "children_ok": sum(c.status == "succeeded" for c in children),
        "open_runtime_s": open_s, "wall_s": wall, "cpu_s": cpu, "all_cpu_s": all_cpu,
        "runner_sum_s": sum(runners),
        "runner_mean_ms": 1000 * statistics.mean(runners) if runners else 0.0,
        "validate_s": watch.seconds.get("validate", 0.0) - watch.seconds.get("finalize", 0.0),
        "finalize_s": watch.seconds.get("finalize", 0.0),
        "rss_after_open_mib": rss_before, "peak_rss_mib": rss_peak,
        "calls": {k: {"n": watch.calls[k], "s": round(watch.seconds[k], 4)}
                  for k in sorted(watch.calls) if k not in ("validate", "finalize")},
    }


def run_worker(repo: Path, parallel: int, role: str = "--worker") -> dict:
    """Run `worker` (or the baseline) in a fresh interpreter; its RSS and CPU are its own."""
    done = subprocess.run(
        [sys.executable, __file__, role, str(repo), "--parallel", str(parallel)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# Driver -----------------------------------------------------------------------------------

def measure(n: int, parallel: int) -> dict:
    """Measure one size once: baseline children, ccs session, merge baselines."""
    scratch = Path(tempfile.mkdtemp(prefix=f"ccs-bench-{n}-"))
    try:
        base_repo, ccs_repo = scratch / "baseline", scratch / "ccs"
        base_sha = make_repo(base_repo, n, parallel)
        if make_repo(ccs_repo, n, parallel) != base_sha:
            raise RuntimeError("the two generated repositories differ")
        baseline = run_worker(base_repo, parallel, "--baseline")
        session = run_worker(ccs_repo, parallel)
        if session["status"] != "complete":
            raise RuntimeError(f"session did not complete: {session['message']}")
        merges = baseline_merges(ccs_repo, base_sha, session["commits"], scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    overhead_ms = 1000 * (session["wall_s"] - baseline["wall_s"]) / n
    return {
        "n": n, "parallel": parallel,
        "wall_s": session["wall_s"], "baseline_wall_s": baseline["wall_s"],
        "children_work_s": baseline["wall_s"],
        "runner_sum_s": session["runner_sum_s"], "baseline_runner_sum_s": baseline["runner_sum_s"],
        "runner_mean_ms": session["runner_mean_ms"],
        "baseline_runner_mean_ms": baseline["runner_mean_ms"],
        "overhead_per_component_ms": overhead_ms,
        "orchestrator_cpu_per_component_ms": 1000 * session["cpu_s"] / n,
        "cpu_s": session["all_cpu_s"], "baseline_cpu_s": baseline["cpu_s"],
        "cpu_overhead_per_component_ms": 1000 * (session["all_cpu_s"] - baseline["cpu_s"]) / n,
        "open_runtime_s": session["open_runtime_s"],
        "validate_s": session["validate_s"], "finalize_s": session["finalize_s"],
        "plain_git_merge_s": merges["plain_git_merge_s"],
        "merge_tree_loop_s": merges["merge_tree_loop_s"],
        "finalize_ratio": session["finalize_s"] / merges["plain_git_merge_s"],
        "rss_after_open_mib": session["rss_after_open_mib"],
        "peak_rss_mib": session["peak_rss_mib"],
        "calls": session["calls"],
    }


def best_of(runs: list[dict]) -> dict:
    """Return the run with the median overhead, plus the spread of the repeated figures."""
    ordered = sorted(runs, key=lambda r: r["overhead_per_component_ms"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["repeats"] = len(runs)
    if len(runs) > 1:
        chosen["overhead_per_component_ms_all"] = [round(r["overhead_per_component_ms"], 1)
                                                   for r in runs]
        chosen["finalize_ratio_all"] = [round(r["finalize_ratio"], 2) for r in runs]
    return chosen


def summary_rows(results: list[dict]) -> list[list[object]]:
    """Return one table row per size."""
    return [[r["n"], f"{r['wall_s']:.2f}", f"{r['baseline_wall_s']:.2f}",
             f"{r['overhead_per_component_ms']:.1f}",
             f"{r['cpu_overhead_per_component_ms']:.1f}",
             f"{r['orchestrator_cpu_per_component_ms']:.1f}",
             f"{r['validate_s']:.2f}", f"{r['finalize_s']:.2f}",
             f"{r['plain_git_merge_s']:.2f}", f"{r['merge_tree_loop_s']:.2f}",
             f"{r['finalize_ratio']:.2f}", f"{r['peak_rss_mib']:.1f}"] for r in results]


HEADERS = ["N", "wall s", "children (plain git) s", "overhead ms/comp",
           "CPU overhead ms/comp", "in-process CPU ms/comp",
           "validate s", "finalize s", "git merge s", "merge-tree loop s", "finalize/git",
           "peak RSS MiB"]


def markdown(info: dict, results: list[dict]) -> str:
    """Return the short Markdown report."""
    worst_overhead = max(r["overhead_per_component_ms"] for r in results)
    worst_ratio = max(r["finalize_ratio"] for r in results)
    rss = [r["peak_rss_mib"] for r in results]
    return "\n".join([
        "# Local engine at scale", "",
        f"{info['date']} · {info['cores']} cores · Python {info['python']} · git {info['git']}"
        f" · parallel {results[0]['parallel']} · `python bench/local_scale.py`", "",
        table(HEADERS, summary_rows(results)), "",
        f"- Overhead per component (ccs wall - plain-git baseline wall, / N): worst "
        f"{worst_overhead:.1f} ms; goal ≤ {GOAL_OVERHEAD_MS:.0f} ms "
        f"({'met' if worst_overhead <= GOAL_OVERHEAD_MS else 'NOT met'}).",
        f"- Finalize / plain sequential `git merge`: worst {worst_ratio:.2f}x; goal ≤ "
        f"{GOAL_FINALIZE_RATIO:.0f}x "
        f"({'met' if worst_ratio <= GOAL_FINALIZE_RATIO else 'NOT met'}).",
        f"- Peak RSS of the orchestrating process: {min(rss):.1f}-{max(rss):.1f} MiB "
        "across N (each N in a fresh process).",
        "- Children do no real work (tiny stdlib coder and test scripts), so these figures are "
        "the floor of what ccs adds; see bench/README.md for what each column means.", "",
    ])


def main(argv: list[str] | None = None) -> int:
    """Parse flags, run every size, print the table and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50,200", help="comma-separated N (10,50,200)")
    parser.add_argument("--parallel", type=int, default=8, help="children at once (8)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; median kept")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline:
        base_sha = git(args.baseline, "rev-parse", "HEAD").strip()
        print(json.dumps(baseline_children(args.baseline, base_sha, args.parallel,
                                           args.baseline.parent)))
        return 0
    if args.worker:
        print(json.dumps(worker(args.worker, args.parallel)))
        return 0
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    info = machine()
    results = []
    for n in sizes:
        runs = []
        for index in range(args.repeat):
            print(f"N={n} run {index + 1}/{args.repeat} ...", file=sys.stderr, flush=True)
            runs.append(measure(n, args.parallel))
        results.append(best_of(runs))
        print(table(HEADERS, summary_rows(results[-1:])), file=sys.stderr)
    print(table(HEADERS, summary_rows(results)))
    if not args.no_write:
        data = {"benchmark": "local_scale", "machine": info, "parallel": args.parallel,
                "goals": {"overhead_per_component_ms": GOAL_OVERHEAD_MS,
                          "finalize_over_plain_git_merge": GOAL_FINALIZE_RATIO},
                "results": results}
        paths = write_results("local_scale", data, markdown(info, results))
        print(f"wrote {paths[0].relative_to(ROOT)} and {paths[1].relative_to(ROOT)}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
