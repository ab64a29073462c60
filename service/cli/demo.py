"""`ccs demo`: copy the bundled example into a fresh repository and run a full session."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bookshop"
CONTEXT = "catalog"
# `ccs demo --waves`: order_book needs order (two waves), and verify fails on the merged
# tree until an integration round fixes the seam between them (DESIGN §3b).
WAVES_CONTEXT = "orders"


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def prepare(workdir: Path, example: Path = EXAMPLE) -> Path:
    """Copy the example into workdir/bookshop as a git repository with a bare origin."""
    if not example.is_dir():
        raise FileNotFoundError(f"the bundled example is missing at {example}; run ccs from "
                                "a checkout of the ccs repository (pip install -e .)")
    repo = workdir / "bookshop"
    origin = workdir / "origin.git"
    shutil.copytree(example, repo, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    _git(workdir, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    _git(repo, "init", "--quiet", "--initial-branch=main")
    identity = ["-c", "user.name=ccs demo", "-c", "user.email=demo@ccs.invalid"]
    _git(repo, "add", "-A")
    _git(repo, *identity, "commit", "--quiet", "-m", "Bookshop: design docs and manifest")
    _git(repo, "remote", "add", "origin", str(origin))
    _git(repo, "push", "--quiet", "origin", "main")
    return repo


def run_demo(context: str = CONTEXT) -> int:
    """Run the demo and print the branch, the commit and the test summary."""
    if importlib.util.find_spec("pytest") is None:
        print("ccs demo: the example project's tests need pytest; install it with "
              "`pip install 'ccs[demo]'` (or `make demo`)", file=sys.stderr)
        return 2
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="ccs-demo-"))
    repo = prepare(workdir)
    print(f"ccs demo: example project at {repo} (origin {workdir / 'origin.git'})",
          file=sys.stderr)
    code = _run_capturing(repo, context)
    elapsed = time.monotonic() - started
    print(f"ccs demo: finished in {elapsed:.1f} s; inspect it with `git -C {repo} log "
          f"--oneline --all`", file=sys.stderr)
    return code


def _run_capturing(repo: Path, context: str = CONTEXT) -> int:
    import contextlib
    import io

    from service.cli import main as ccs_main

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = ccs_main(["run", context, "--repo", str(repo), "--push", "--json",
                         "--no-summary"])
    body = json.loads(buffer.getvalue())
    print(f"session   {body['session']}: {body['status']}")
    print(f"branch    {body['branch']} (pushed to origin)" if code == 0 else
          f"branch    {body['branch']}")
    print(f"commit    {body.get('commit') or '-'}")
    total = 0
    waves = any(child.get("wave") for child in body["children"])
    for child in body["children"]:
        tests = child["tests"]
        total += tests["passed"]
        print(f"  {child['component']:<12} {child['status']:<10} attempts={child['attempts']} "
              f"tests={tests['passed']} passed" + (f" wave={child['wave'] + 1}" if waves else ""))
    print(f"tests     {total} passed across {len(body['children'])} components")
    integration = body.get("integration")
    if integration:
        changed = ", ".join(integration["changed_files"]) or "nothing"
        print(f"integration {integration['status']} after verify failed: "
              f"attempts={integration['attempts']} changed {changed}")
    if body.get("message"):
        print(body["message"])
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point for `python -m service.cli.demo`."""
    parser = argparse.ArgumentParser(prog="ccs demo")
    parser.add_argument("--waves", action="store_true")
    args = parser.parse_args(argv)
    return run_demo(WAVES_CONTEXT if args.waves else CONTEXT)


if __name__ == "__main__":
    sys.exit(main())
