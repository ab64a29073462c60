"""`ccs run` end to end, as a user runs it, against a careful hand-written script.

    python bench/local_run.py [--sizes 10,20,50] [--pairs 5] [--parallel 8]
    python bench/local_run.py --sizes 200     # ~10 min on 2 cores: opt-in
    python bench/local_run.py --quick            # N=5, 2 pairs, seconds

Subject: the `ccs` console script in a subprocess, `ccs run bench --repo R --json`, on a
fresh generated repository (bench/_repo.py), timed from spawn to exit.

Baseline: this file run as `python bench/local_run.py baseline R` in a subprocess (so both
pay an interpreter start), stdlib only, never ccs's runner. With the same parallelism it
does per component what a careful person would: `git worktree add --detach` (one at a
time: git 2.39 races on concurrent adds), the same coder and test commands with the same
environment variables, a check of the JUnit report, `git add -A` + `git commit`,
`git worktree remove`; then a `git merge-tree --write-tree` + `git commit-tree` loop over
the commits in spawn order and one squash `commit-tree` onto the base, as ccs's Finalize.

Figure: wall time ratio ccs / baseline per interleaved pair (goal ≤ 1.15x). CPU of each
process tree is recorded too.

`--floor` adds a second comparison per N: the same script with the isolation DESIGN §8
asks of ccs (a clone with its own .git per child, every command and the commit's git in
bubblewrap, the commit fetched back) against the plain script. It is the least any tool
that keeps a coder away from the user's repository pays; ccs / isolated is then the
ratio of medians of the two rows. Writes results/local_run.{json,md,png}.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Figures,
    all_cpu_seconds,
    arguments,
    interleave,
    pairs_of,
    report,
    should_write,
    sizes_of,
)
from _repo import (
    CODER_ARGV,
    CONTEXT,
    TEST_ARGV,
    ccs,
    component_names,
    git,
    make_repo,
    paths_of,
)

GOAL = "ccs / baseline wall time <= 1.15x"
# The isolated baseline (--floor) runs its commands in the sandbox ccs uses when it can.
BWRAP = shutil.which("bwrap") or "bwrap"


# ----- the baseline: the same work by hand -------------------------------------------------


def baseline_component(repo: Path, base: str, name: str, scratch: Path,
                       worktree_lock: threading.Lock, isolated: bool = False) -> str:
    """Implement one component in its own worktree; return its commit.

    `isolated`: the design floor instead (DESIGN §8). A clone with a .git of its own
    (`--shared`, as ccs makes it), every command and the commit's git inside bubblewrap
    (the coder can write that .git's config, so no git runs there unsandboxed), and the
    commit fetched back into the repository; no worktree.
    """
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=scratch))
    checkout, junit = workdir / "checkout", workdir / "out" / "junit.xml"
    junit.parent.mkdir()
    paths = paths_of(name)
    # `python` in the commands must be the interpreter ccs's children get (ccs puts its own
    # first on PATH): found through a pyenv shim instead, each command cost ~0.1 s more.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "CCS_CONTEXT": CONTEXT, "CCS_COMPONENT": name,
           "CCS_ATTEMPT": "1",
           "CCS_DESIGN": paths["design"], "CCS_IMPLEMENTATION": paths["implementation"],
           "CCS_TEST": paths["test"]}
    jail: list[str] = []
    if isolated:
        git(repo, "clone", "--quiet", "--shared", "--no-checkout", "--template=", "--",
            str(repo / ".git"), str(checkout))
        git(checkout, "checkout", "--quiet", "--detach", base)
        jail = [BWRAP, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                "--bind", str(checkout), str(checkout), "--bind", str(junit.parent),
                str(junit.parent), "--"]
    else:
        with worktree_lock:
            git(repo, "worktree", "add", "--quiet", "--detach", str(checkout), base)
    subprocess.run([*jail, *CODER_ARGV], cwd=checkout, env=env, check=True,
                   stdin=subprocess.DEVNULL, timeout=60)
    test = [arg.replace("{junit}", str(junit)) for arg in TEST_ARGV]
    subprocess.run([*jail, *test], cwd=checkout, env=env, check=True,
                   stdin=subprocess.DEVNULL, timeout=60)
    suite = ElementTree.parse(junit).getroot()  # noqa: S314 - our own test command wrote it
    if int(suite.get("tests", 0)) < 1 or int(suite.get("failures", 0)) or int(
            suite.get("errors", 0)):
        raise RuntimeError(f"{name}: tests did not pass")
    git(checkout, "add", "-A", jail=jail)
    git(checkout, "commit", "--quiet", "--no-verify", "-m", f"Implement {name}", jail=jail)
    commit = git(checkout, "rev-parse", "HEAD", jail=jail).strip()
    if isolated:
        git(repo, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--",
            str(checkout), f"+{commit}:refs/heads/ccs-child/{name}")
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        with worktree_lock:
            git(repo, "worktree", "remove", "--force", str(checkout))
    return commit


def squash_merge(repo: Path, base: str, commits: list[str], message: str) -> str:
    """Merge the commits in order with merge-tree + commit-tree; squash onto the base."""
    current, tree = base, None
    for commit in commits:
        tree = git(repo, "merge-tree", "--write-tree", current, commit).split("\n", 1)[0]
        current = git(repo, "commit-tree", tree, "-p", current, "-p", commit,
                      "-m", "merge").strip()
    if tree is None:
        raise RuntimeError("nothing to merge")
    return git(repo, "commit-tree", tree, "-p", base, "-m", message).strip()


def run_baseline(repo: Path, parallel: int, isolated: bool = False) -> str:
    """Do the whole session's work by hand; return the squashed commit."""
    base = git(repo, "rev-parse", "main").strip()
    names = component_names(len(list((repo / "docs" / "design" / CONTEXT).glob("*.md"))))
    scratch = Path(tempfile.mkdtemp(prefix="baseline-", dir=repo.parent))
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        commits = list(pool.map(
            lambda name: baseline_component(repo, base, name, scratch, lock, isolated),
            names))
    merged = squash_merge(repo, base, commits, f"Implement {CONTEXT} context")
    git(repo, "update-ref", f"refs/heads/ccs/{CONTEXT}-baseline", merged)
    shutil.rmtree(scratch, ignore_errors=True)
    return merged


# ----- one measured run of each side --------------------------------------------------------


def fresh_repo(root: Path, n: int, parallel: int) -> Path:
    """Generate a new repository of N components under `root` (not timed)."""
    repo = Path(tempfile.mkdtemp(prefix=f"n{n}-", dir=root)) / "repo"
    make_repo(repo, n, parallel)
    return repo


def subject_run(root: Path, n: int, parallel: int) -> Figures:
    """Time `ccs run` on a fresh repository; check that it finalized every component."""
    repo = fresh_repo(root, n, parallel)
    cpu, started = all_cpu_seconds(), time.perf_counter()
    body = ccs(repo, "run", CONTEXT)
    seconds = time.perf_counter() - started
    succeeded = sum(child["status"] == "succeeded" for child in body["children"])
    if body["status"] != "complete" or succeeded != n:
        raise RuntimeError(f"ccs run did not finalize all {n}: {body.get('message')}")
    shutil.rmtree(repo.parent, ignore_errors=True)
    return {"seconds": seconds, "cpu_s": all_cpu_seconds() - cpu}


def baseline_run(root: Path, n: int, parallel: int, isolated: bool = False) -> Figures:
    """Time the hand-written script, in its own interpreter, on a fresh repository."""
    repo = fresh_repo(root, n, parallel)
    cpu, started = all_cpu_seconds(), time.perf_counter()
    subprocess.run([sys.executable, __file__, "baseline", str(repo), str(parallel),
                    *(["isolated"] if isolated else [])],
                   check=True, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    shutil.rmtree(repo.parent, ignore_errors=True)
    return {"seconds": seconds, "cpu_s": all_cpu_seconds() - cpu}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, as `baseline REPO PARALLEL`, the baseline itself)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["baseline"]:
        run_baseline(Path(argv[1]), int(argv[2]), isolated=argv[3:4] == ["isolated"])
        return 0
    parser = arguments(__doc__.splitlines()[0], "10,20,50", "5")
    parser.add_argument("--parallel", type=int, default=8, help="children at once (8)")
    parser.add_argument("--floor", action="store_true",
                        help="also time the design floor: the script with ccs's isolation "
                             "(own clone, sandboxed commands, fetch back) against the plain one")
    args = parser.parse_args(argv)
    comparisons = []
    with tempfile.TemporaryDirectory(prefix="ccs-bench-local-run-") as temp:
        root = Path(temp)
        for index, n in enumerate(sizes_of(args)):
            comparisons.append(interleave(
                "ccs run", n, lambda n=n: subject_run(root, n, args.parallel),
                lambda n=n: baseline_run(root, n, args.parallel), pairs=pairs_of(args),
                warmup=index == 0))
            if args.floor:
                comparisons.append(interleave(
                    "isolated script", n,
                    lambda n=n: baseline_run(root, n, args.parallel, isolated=True),
                    lambda n=n: baseline_run(root, n, args.parallel), pairs=pairs_of(args),
                    warmup=False))
    if should_write(args):
        report("local_run", "ccs run vs the same work by hand", comparisons, goal=GOAL,
               ylabel="wall time per session, s",
               extra={"parallel": args.parallel},
               notes=f"parallel {args.parallel}; coder and test are tiny stdlib scripts "
                     "(bench/_repo.py), one attempt, no verify.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
