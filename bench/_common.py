"""Helpers shared by the benchmarks: timing, peak RSS, machine facts, writing results."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


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


def machine() -> dict:
    """Return the facts that make figures comparable between machines."""
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "git": git_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_results(name: str, data: dict, markdown: str) -> tuple[Path, Path]:
    """Write results/<name>.json and results/<name>.md; return both paths."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path, md_path = RESULTS / f"{name}.json", RESULTS / f"{name}.md"
    json_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown, encoding="utf-8")
    return json_path, md_path


def table(headers: list[str], rows: list[list[object]]) -> str:
    """Return a Markdown table (also readable as plain text)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.rjust(w) for v, w in zip(values, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])
