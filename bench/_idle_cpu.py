"""Where the callback's CPU goes: each server process's CPU idle and under load.

    python bench/_idle_cpu.py [--backend sqlite|postgresql|both] [--seconds 4] [--rounds 2]
    python bench/_idle_cpu.py --py-spy DIR   # also record each ccs process under load

Starts the stacks bench/callback_load.py starts (its `start_stack`: `ccs serve` with its
queue worker, or + `ccs worker` on PostgreSQL, and the bare-route baseline), warms both
up, then per round measures every process of the server groups (gunicorn master, each web
worker, the queue worker), by role, over `--seconds`:

- idle: no requests at all (what polling loops, heartbeats and timers cost);
- load: 100 req/s of fresh valid results, as callback_load sends them.

Prints CPU ms per process role for each window and, for the load window, CPU ms per
request of each role net of its idle CPU. With `--py-spy DIR` (py-spy on the PATH or in
the interpreter's bin/), one extra load window is recorded by `py-spy record` for each
ccs process (speedscope-free raw text: DIR/<backend>-<role>.txt, folded stacks). Writes
nothing under results/: a diagnostic, not a figure of the report.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from _open_loop import open_loop, post  # noqa: E402 - bench/ is put on the path just above
from callback_load import WARMUP_CALLS, start_stack  # noqa: E402
from service_load import services_reachable  # noqa: E402

RATE = 100.0


def processes(groups: list[int]) -> dict[int, tuple[str, float]]:
    """Return {pid: (role, CPU seconds)} of every live process in the process groups."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # it ended while we looked
        if int(fields[2]) in groups:
            found[int(entry.name)] = (role(argv, int(fields[1]), int(fields[2])),
                                      (int(fields[11]) + int(fields[12])) / ticks)
    return found


def role(argv: list[bytes], ppid: int, group: int) -> str:
    """Name a server process by what it is: master, web worker, queue worker."""
    words = [word.decode(errors="replace") for word in argv]
    if "worker" in words:
        return "queue worker"
    return "web worker" if ppid == group else "master"


def by_role(before: dict[int, tuple[str, float]],
            after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """Return the CPU seconds spent between two snapshots, summed per role."""
    spent: dict[str, float] = {}
    for pid, (name, cpu) in after.items():
        spent[name] = spent.get(name, 0.0) + cpu - before.get(pid, (name, 0.0))[1]
    return spent


def window(groups: list[int], seconds: float, load: Any = None) -> dict[str, float]:
    """Return CPU seconds per role over `seconds` idle, or while `load()` runs."""
    start = processes(groups)
    if load is None:
        time.sleep(seconds)
    else:
        load()
    return by_role(start, processes(groups))


def py_spy() -> str | None:
    """Return the py-spy program, next to this interpreter or on the PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(groups: list[int], seconds: float, load: Any, out: Path, backend: str) -> None:
    """Run `load()` while py-spy records each process of `groups` (folded stacks)."""
    program = py_spy()
    if program is None:
        raise SystemExit("py-spy not found: pip install py-spy")
    spies = []
    for pid, (name, _) in processes(groups).items():
        target = out / f"{backend}-{name.replace(' ', '-')}-{pid}.txt"
        spies.append(subprocess.Popen(
            [program, "record", "--pid", str(pid), "--duration", str(int(seconds + 1)),
             "--rate", "250", "--format", "raw", "--nonblocking", "--output", str(target)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(1.0)  # py-spy attaches
    load()
    for spy in spies:
        spy.wait(60)


def run(backend: str, args: argparse.Namespace) -> None:
    """Measure one backend's stacks, idle and under load, `args.rounds` times each."""
    per_window = int(RATE * args.seconds)
    needed = WARMUP_CALLS + (2 * args.rounds + 1) * per_window + 1
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="ccs-idle-") as temp:
        parts = start_stack(stack, Path(temp), backend, needed, workers=2)
        gh, children = parts["gh"], parts["children"]
        subjects = {"ccs": (parts["ccs"].url, parts["groups"]),
                    "baseline": (parts["baseline"].url, [parts["baseline"].popen.pid])}
        warmup = children.take(WARMUP_CALLS)
        for url, _ in subjects.values():
            for call in children.calls(gh, url, warmup):
                post(call)
        time.sleep(2)  # let follow-up tasks of the warm-up drain
        rows = {name: [children.take(per_window) for _ in range(args.rounds)]
                for name in subjects}
        for index in range(args.rounds):
            for name, (url, groups) in subjects.items():
                idle = window(groups, args.seconds)
                calls = children.calls(gh, url, rows[name][index])
                busy = window(groups, args.seconds, lambda c=calls: open_loop(c, RATE))
                show(backend, name, idle, busy, len(calls))
        if args.py_spy:
            out = Path(args.py_spy)
            out.mkdir(parents=True, exist_ok=True)
            url, groups = subjects["ccs"]
            calls = children.calls(gh, url, children.take(per_window))
            record(groups, args.seconds, lambda: open_loop(calls, RATE), out, backend)
            print(f"  py-spy stacks in {out}", file=sys.stderr)


def show(backend: str, name: str, idle: dict[str, float], busy: dict[str, float],
         requests: int) -> None:
    """Print one round: CPU ms per role idle and loaded, and per request net of idle."""
    line = [f"{backend:10} {name:8}"]
    for part in sorted(set(idle) | set(busy)):
        i, b = 1000 * idle.get(part, 0.0), 1000 * busy.get(part, 0.0)
        line.append(f"{part}: idle {i:5.0f} load {b:5.0f} net/req {(b - i) / requests:5.2f}")
    total_i, total_b = 1000 * sum(idle.values()), 1000 * sum(busy.values())
    line.append(f"TOTAL idle {total_i:.0f} ms, load {total_b:.0f} ms = "
                f"{total_b / requests:.2f} ms/req ({total_i / requests:.2f} of it idle)")
    print("\n    ".join(line), flush=True)


def main() -> int:
    """Parse the options and measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--py-spy", metavar="DIR", help="also py-spy each ccs process")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and (reason := services_reachable()) is not None:
        print(f"PostgreSQL + Redis skipped: {reason}", file=sys.stderr)
        backends.remove("postgresql")
    for backend in backends:
        run(backend, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
