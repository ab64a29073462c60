"""Finalize's merge against the same git work by hand, through the real `ccs` CLI.

    python bench/finalize.py [--sizes 10,50,200] [--pairs 5]
    python bench/finalize.py --sizes 1000     # ~20 min on 2 cores (the seed session): opt-in
    python bench/finalize.py --quick             # N=5, 2 pairs, seconds

Setup per N (not timed): a generated repository (bench/_repo.py) whose manifest has a
`verify` command that always fails, and one `ccs run` of it, which leaves the session in
`needs_attention` after Finalize merged every child. Every `ccs retry SESSION` then runs
Validate and Finalize again on the same succeeded children — a session whose children are
already done — and stops at verify once more, so it can be repeated.

Subject: the merge phase of Finalize in that `ccs retry`, from the session's own
interaction log (the `validate … passed` entry to the `merge` entry, both written by ccs
as it goes; read with sqlite3 from `.git/ccs/ccs.db`). The retry's wall time is kept as
`retry_s` for context (it includes the CLI start, Validate and the verify worktree).

Baseline: the same child commits merged in spawn order by `git merge-tree --write-tree` +
`git commit-tree` per child and one squash `commit-tree` onto the base — ccs's own merge
algorithm with nothing around it, the fastest way plain git 2.39 does it without a
worktree (`git merge` in a checkout is slower; merge-tree needs commits, hence the
per-child commit-tree).

Figure: finalize-merge / baseline seconds per interleaved pair (goal ≤ 1.2x).
Writes results/finalize.{json,md,png}.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Figures, arguments, interleave, pairs_of, report, should_write, sizes_of
from _repo import CONTEXT, ccs, child_commits, git, make_repo, session_log
from local_run import squash_merge

GOAL = "finalize merge / merge-tree + commit-tree loop <= 1.2x"
FAILING_VERIFY = ["python", "-S", "-c", "raise SystemExit(1)"]
EXIT_ATTENTION = 1


def seeded_session(root: Path, n: int, parallel: int) -> tuple[Path, str]:
    """Run one session of N components that finalizes its merge and fails verify."""
    repo = root / f"n{n}" / "repo"
    make_repo(repo, n, parallel, verify=FAILING_VERIFY)
    body = ccs(repo, "run", CONTEXT, expect=(EXIT_ATTENTION,))
    if body["status"] != "needs_attention" or "verify" not in (body.get("message") or ""):
        raise RuntimeError(f"the seed session should stop at verify: {body.get('message')}")
    return repo, body["session"]


def merge_phase_seconds(repo: Path, session_id: str) -> float:
    """Return the time from the last `validate passed` entry to the `merge` entry after it."""
    log = session_log(repo, session_id)
    last = max(i for i, (step, result, _) in enumerate(log)
               if step == "validate" and result == "passed")
    merged = next((when for step, _, when in log[last:] if step == "merge"), None)
    if merged is None:
        raise RuntimeError(f"session {session_id} logged no merge after its last validate")
    return (datetime.fromisoformat(merged) - datetime.fromisoformat(log[last][2])).total_seconds()


def subject_run(repo: Path, session_id: str) -> Figures:
    """Retry the session; return the merge phase from its log and the retry's wall time."""
    started = time.perf_counter()
    body = ccs(repo, "retry", session_id, expect=(EXIT_ATTENTION,))
    retry_seconds = time.perf_counter() - started
    if body["status"] != "needs_attention":
        raise RuntimeError(f"retry should stop at verify again: {body.get('message')}")
    return {"seconds": merge_phase_seconds(repo, session_id), "retry_s": retry_seconds}


def baseline_run(repo: Path, session_id: str) -> Figures:
    """Merge the same child commits by hand; time only the git work."""
    commits = child_commits(repo, session_id)
    base = git(repo, "rev-parse", "main").strip()
    started = time.perf_counter()
    squash_merge(repo, base, commits, f"Implement {CONTEXT} context")
    return {"seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = arguments(__doc__.splitlines()[0], "10,50,200", "5")
    parser.add_argument("--parallel", type=int, default=8, help="children at once (8)")
    args = parser.parse_args(argv)
    comparisons = []
    with tempfile.TemporaryDirectory(prefix="ccs-bench-finalize-") as temp:
        for n in sizes_of(args):
            started = time.perf_counter()
            repo, session_id = seeded_session(Path(temp), n, args.parallel)
            print(f"  seeded N={n} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            comparisons.append(interleave(
                "finalize", n, lambda r=repo, s=session_id: subject_run(r, s),
                lambda r=repo, s=session_id: baseline_run(r, s), pairs=pairs_of(args),
                warmup=False))
    if should_write(args):
        report("finalize", "Finalize merge vs merge-tree + commit-tree by hand", comparisons,
               goal=GOAL, ylabel="merge of N children, s", extra={"parallel": args.parallel},
               notes="Subject: merge phase of `ccs retry` (validate-passed → merge log "
                     "entries) on a session whose children are done; `retry_s` in the "
                     "JSON is the whole retry's wall time.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
