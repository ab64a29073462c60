"""Prometheus text exposition, hand-written: counters, one histogram and a DB-backed gauge."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable

from flask import Flask, Response, g, request

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """This process's counters and latency histogram (each web worker keeps its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
        self._help: dict[str, str] = {}
        self._hist: dict[tuple, list[float]] = {}
        self._hist_sum: dict[tuple, float] = defaultdict(float)

    def count(self, name: str, help_text: str, **labels: str) -> None:
        """Add one to the counter `name` with `labels`."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._help[name] = help_text
            self._counters[name][key] += 1

    def observe(self, seconds: float, **labels: str) -> None:
        """Record one request's latency."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            buckets = self._hist.setdefault(key, [0.0] * (len(LATENCY_BUCKETS) + 1))
            for index, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    buckets[index] += 1
            buckets[-1] += 1  # +Inf, which is also the count
            self._hist_sum[key] += seconds

    def render(self, gauges: dict[str, tuple[str, dict[str, int]]]) -> str:
        """Return every metric in the Prometheus text format."""
        lines: list[str] = []
        with self._lock:
            for name, series in sorted(self._counters.items()):
                lines += [f"# HELP {name} {self._help[name]}", f"# TYPE {name} counter"]
                lines += [f"{name}{_labels(k)} {v:g}" for k, v in sorted(series.items())]
            lines += self._render_histogram()
        for name, (help_text, values) in gauges.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            lines += [f'{name}{{status="{_escape(k)}"}} {v}' for k, v in sorted(values.items())]
        return "\n".join(lines) + "\n"

    def _render_histogram(self) -> list[str]:
        name = "ccs_http_request_duration_seconds"
        lines = [f"# HELP {name} HTTP request latency by endpoint", f"# TYPE {name} histogram"]
        for key, buckets in sorted(self._hist.items()):
            for bound, value in zip((*LATENCY_BUCKETS, "+Inf"), buckets, strict=True):
                lines.append(f"{name}_bucket{_labels((*key, ('le', str(bound))))} {value:g}")
            lines.append(f"{name}_sum{_labels(key)} {self._hist_sum[key]:.6f}")
            lines.append(f"{name}_count{_labels(key)} {buckets[-1]:g}")
        return lines


def init_app(app: Flask, metrics: Metrics, session_counts: Callable[[], dict[str, int]]) -> None:
    """Time every request and serve GET /metrics."""
    @app.before_request
    def _start() -> None:
        g.ccs_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("ccs_started")
        if started is not None:
            # The route pattern, not the path, so ids do not explode the label set.
            endpoint = request.url_rule.rule if request.url_rule else "unmatched"
            metrics.observe(time.perf_counter() - started, method=request.method,
                            endpoint=endpoint, status=str(response.status_code))
        return response

    @app.get("/metrics")
    def metrics_page() -> Response:
        """Serve the metrics in the Prometheus text format."""
        gauges = {"ccs_sessions": ("Sessions by status (from the database at scrape time)",
                                   session_counts())}
        return Response(metrics.render(gauges), content_type=CONTENT_TYPE)
