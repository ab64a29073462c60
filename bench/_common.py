"""Helpers shared by the benchmarks: interleaved A/B runs, spread, load, results and plots.

Every figure a benchmark reports is a ratio of a subject (ccs through its real entry point)
to a baseline doing the same work, measured in pairs run back to back (ABAB…), so that a
change of machine load moves both halves of a pair alike. The load average is recorded
before and after every run, beside the figure it may have bent.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
MIN_PAIRS = 5

Figures = dict[str, float]


class Stopwatch:
    """Accumulates wall time and call counts under named keys."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    @contextmanager
    def time(self, key: str) -> Iterator[None]:
        """Add the wall time of the `with` body to `key`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(key, time.perf_counter() - started)

    def add(self, key: str, seconds: float) -> None:
        """Add one measurement to `key`."""
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds
        self.calls[key] = self.calls.get(key, 0) + 1


def peak_rss_mib() -> float:
    """Return this process's peak resident set size in MiB (ru_maxrss is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def cpu_seconds() -> float:
    """Return this process's user + system CPU time so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def all_cpu_seconds() -> float:
    """Return user + system CPU of this process and of its waited-for child processes."""
    own, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                     resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def git_version() -> str:
    """Return `git --version` without the leading words."""
    out = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().removeprefix("git version ")


def load_average() -> float:
    """Return the 1-minute load average (runnable processes, all users)."""
    return round(os.getloadavg()[0], 2)


def machine() -> dict:
    """Return the facts that make figures comparable between machines."""
    return {
        "cores": os.cpu_count(),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "git": git_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# ----- interleaved A/B runs ---------------------------------------------------------------


@dataclass
class Run:
    """One run of a subject or a baseline: its figures and the load around it."""

    figures: Figures
    load_before: float
    load_after: float


def timed(work: Callable[[], Figures | None]) -> Run:
    """Run `work`; return its figures plus `seconds` (wall) and the load before and after."""
    before = load_average()
    started = time.perf_counter()
    figures = dict(work() or {})
    figures.setdefault("seconds", time.perf_counter() - started)
    return Run(figures, before, load_average())


def spread(values: list[float]) -> dict[str, float]:
    """Return median, min, max, first and third quartile and IQR of `values`."""
    if not values:
        raise ValueError("spread() needs at least one value")
    ordered = sorted(values)
    q1, q3 = ((statistics.quantiles(ordered, n=4, method="inclusive")[i] for i in (0, 2))
              if len(ordered) > 1 else (ordered[0], ordered[0]))
    return {"median": statistics.median(ordered), "min": ordered[0], "max": ordered[-1],
            "q1": q1, "q3": q3, "iqr": q3 - q1}


@dataclass
class Comparison:
    """Pairs of (subject, baseline) runs at one size, and the ratio of a chosen figure."""

    label: str
    n: int
    metric: str
    subject: list[Run] = field(default_factory=list)
    baseline: list[Run] = field(default_factory=list)

    def values(self, side: str, metric: str | None = None) -> list[float]:
        """Return `metric` (default: the compared one) of every run of one side."""
        runs = self.subject if side == "subject" else self.baseline
        return [run.figures[metric or self.metric] for run in runs]

    def ratios(self) -> list[float]:
        """Return subject / baseline per pair."""
        return [s / b if b else math.inf
                for s, b in zip(self.values("subject"), self.values("baseline"), strict=True)]

    def summary(self) -> dict[str, Any]:
        """Return the spreads of both sides and of the per-pair ratio, and the loads."""
        loads = [x for run in (*self.subject, *self.baseline)
                 for x in (run.load_before, run.load_after)]
        return {"label": self.label, "n": self.n, "metric": self.metric,
                "pairs": len(self.ratios()), "subject": spread(self.values("subject")),
                "baseline": spread(self.values("baseline")), "ratio": spread(self.ratios()),
                "load": {"min": min(loads), "max": max(loads)}}

    def to_json(self) -> dict[str, Any]:
        """Return the summary plus every run, for results/<name>.json."""
        return {**self.summary(), "subject_runs": [asdict(r) for r in self.subject],
                "baseline_runs": [asdict(r) for r in self.baseline]}


def interleave(label: str, n: int, subject: Callable[[], Figures | None],
               baseline: Callable[[], Figures | None], *, pairs: int = MIN_PAIRS,
               metric: str = "seconds", warmup: bool = True) -> Comparison:
    """Run baseline and subject alternately (ABAB…), `pairs` times; print each pair."""
    if pairs < 1:
        raise ValueError("pairs must be at least 1 (the benchmarks use 5 or more)")
    if warmup:  # fill the page cache and the import caches before anything counts
        baseline()
        subject()
    result = Comparison(label, n, metric)
    for index in range(pairs):
        result.baseline.append(timed(baseline))
        result.subject.append(timed(subject))
        s, b = result.subject[-1], result.baseline[-1]
        print(f"  {label} N={n} pair {index + 1}/{pairs}: ccs {s.figures[metric]:.4f} "
              f"baseline {b.figures[metric]:.4f} ratio {result.ratios()[-1]:.2f} "
              f"load {b.load_before}->{s.load_after}", file=sys.stderr, flush=True)
    print("  " + describe(result), file=sys.stderr, flush=True)
    return result


def describe(comparison: Comparison) -> str:
    """Return one line: median ratio with its min-max and IQR, and the load seen."""
    summary = comparison.summary()
    r, load = summary["ratio"], summary["load"]
    return (f"{comparison.label} N={comparison.n}: ratio median {r['median']:.2f}x "
            f"(min-max {r['min']:.2f}-{r['max']:.2f}, IQR {r['q1']:.2f}-{r['q3']:.2f}), "
            f"ccs {summary['subject']['median']:.4f} vs baseline "
            f"{summary['baseline']['median']:.4f} {comparison.metric}, "
            f"load {load['min']}-{load['max']}, {os.cpu_count()} cores")


# ----- arguments and results --------------------------------------------------------------


def arguments(description: str, sizes: str, quick_sizes: str,
              pairs: int = MIN_PAIRS) -> argparse.ArgumentParser:
    """Return a parser with the options every benchmark shares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", default=sizes, help=f"comma-separated N ({sizes})")
    parser.add_argument("--pairs", type=int, default=pairs,
                        help=f"interleaved subject/baseline pairs per N ({pairs})")
    parser.add_argument("--quick", action="store_true",
                        help=f"a tiny run in seconds: N={quick_sizes}, 2 pairs, not written "
                             "to results/ unless --write")
    parser.add_argument("--write", action="store_true", help="write results even with --quick")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.set_defaults(quick_sizes=quick_sizes)
    return parser


def sizes_of(args: argparse.Namespace) -> list[int]:
    """Return the sizes to run (the quick ones with --quick)."""
    text = args.quick_sizes if args.quick else args.sizes
    try:
        sizes = [int(n) for n in text.split(",") if n.strip()]
    except ValueError:
        raise SystemExit(f"--sizes takes comma-separated whole numbers, not {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise SystemExit("--sizes needs at least one N of 1 or more, e.g. --sizes 10,50")
    return sizes


def pairs_of(args: argparse.Namespace) -> int:
    """Return the pairs per size (2 with --quick: it shows the harness works, not figures)."""
    return 2 if args.quick else max(1, args.pairs)


def should_write(args: argparse.Namespace) -> bool:
    """Say whether this run's figures go to results/."""
    return not args.no_write and (not args.quick or args.write)


def write_results(name: str, data: dict, markdown: str) -> tuple[Path, Path]:
    """Write results/<name>.json and results/<name>.md; return both paths."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path, md_path = RESULTS / f"{name}.json", RESULTS / f"{name}.md"
    json_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown, encoding="utf-8")
    return json_path, md_path


def comparison_table(comparisons: list[Comparison], unit: str = "s",
                     scale: float = 1.0) -> str:
    """Return a Markdown table of the comparisons: medians, ratio spread and load."""
    rows = []
    for comparison in comparisons:
        s = comparison.summary()
        r = s["ratio"]
        rows.append([comparison.label, comparison.n, s["pairs"],
                     f"{s['subject']['median'] * scale:.3f}",
                     f"{s['subject']['min'] * scale:.3f}-{s['subject']['max'] * scale:.3f}",
                     f"{s['baseline']['median'] * scale:.3f}",
                     f"{s['baseline']['min'] * scale:.3f}-{s['baseline']['max'] * scale:.3f}",
                     f"{r['median']:.2f}", f"{r['min']:.2f}-{r['max']:.2f}",
                     f"{r['q1']:.2f}-{r['q3']:.2f}",
                     f"{s['load']['min']}-{s['load']['max']}"])
    return table(["what", "N", "pairs", f"ccs median {unit}", f"ccs min-max {unit}",
                  f"baseline median {unit}", f"baseline min-max {unit}", "ratio median",
                  "ratio min-max", "ratio IQR", "load 1-min"], rows)


def report(name: str, title: str, comparisons: list[Comparison], *, goal: str,
           ylabel: str, extra: dict | None = None, notes: str = "", unit: str = "s",
           scale: float = 1.0) -> None:
    """Write results/<name>.{json,md,png} for a set of comparisons."""
    info = machine()
    data = {"benchmark": name, "goal": goal, "machine": info, **(extra or {}),
            "comparisons": [c.to_json() for c in comparisons]}
    markdown = (f"# {title}\n\n`python bench/{name}.py` on {info['date']}, "
                f"{info['nproc']} of {info['cores']} cores, Python {info['python']}, "
                f"git {info['git']}. Goal: {goal}.\n\n"
                + comparison_table(comparisons, unit, scale) + "\n"
                + (f"\n{notes}\n" if notes else "") + f"\n![{title}]({name}.png)\n")
    write_results(name, data, markdown)
    from _plot import plot  # matplotlib only where a plot is drawn

    plot(name, title, comparisons, ylabel, scale)


def table(headers: list[str], rows: list[list[object]]) -> str:
    """Return a Markdown table (also readable as plain text)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.rjust(w) for v, w in zip(values, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])
