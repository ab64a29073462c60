"""An open-loop load generator and the CPU of a server's process groups.

Open loop: request i is due at start + i / rate whatever happened to the ones before it,
and its latency is measured from that due time, so a server that falls behind shows the
queue it builds (no coordinated omission). The count and the duration are bounded by the
request list and the per-request timeout.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT_S = 30.0
CLIENT_THREADS = 64
LATE_S = 0.005  # a send this far behind its due time means the client itself fell behind


@dataclass(frozen=True)
class Call:
    """One prepared request: where, with which token, what body."""

    url: str
    token: str
    body: dict[str, Any]


def post(call: Call) -> int:
    """POST one callback over a new connection (as a job does); return the status (0: none)."""
    request = urllib.request.Request(  # noqa: S310 - the benchmark's own loopback URLs
        call.url, data=json.dumps(call.body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {call.token}"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def percentile(ordered: list[float], percent: float) -> float:
    """Return the nearest-rank percentile of an ascending list."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(percent / 100 * len(ordered)) - 1))]


def open_loop(calls: list[Call], rate: float) -> dict[str, Any]:
    """Send `calls` at `rate` per second on a fixed schedule; return latency figures."""
    if rate <= 0:
        raise ValueError("rate must be positive (requests per second)")
    outcomes: list[tuple[int, float]] = []
    lock = threading.Lock()
    late = 0

    def send(call: Call, due: float) -> None:
        status = post(call)
        with lock:
            outcomes.append((status, time.perf_counter() - due))

    start = time.perf_counter() + 0.05
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        for index, call in enumerate(calls):
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # the schedule itself, not a wait for an event
            elif -delay > LATE_S:
                late += 1
            pool.submit(send, call, due)
    wall = time.perf_counter() - start
    latencies = sorted(seconds for _, seconds in outcomes)
    statuses: dict[str, int] = {}
    for status, _ in outcomes:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {"requests": len(calls), "rate": rate, "wall_s": wall, "late_sends": late,
            "statuses": statuses, "p50_ms": 1000 * percentile(latencies, 50),
            "p90_ms": 1000 * percentile(latencies, 90),
            "p99_ms": 1000 * percentile(latencies, 99), "max_ms": 1000 * latencies[-1]}


def group_cpu_seconds(groups: list[int]) -> float:
    """Return user + system CPU of every live process whose process group is in `groups`."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended while we looked
        # After the command name: state ppid pgrp … utime (11) stime (12), see proc(5).
        if int(fields[2]) in groups:
            total += int(fields[11]) + int(fields[12])
    return total / ticks
