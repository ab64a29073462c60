"""The benchmark harness itself: interleaving, spread, the open-loop schedule, the proxy.

No timing is asserted: only order, counts and arithmetic on given numbers.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from _common import Comparison, Run, interleave, spread
from _open_loop import Call, open_loop, percentile
from _pgproxy import CountingProxy


def test_spread_gives_median_quartiles_and_range() -> None:
    figures = spread([5.0, 1.0, 3.0, 2.0, 4.0])
    assert figures == {"median": 3.0, "min": 1.0, "max": 5.0, "q1": 2.0, "q3": 4.0,
                       "iqr": 2.0}


def test_spread_of_nothing_says_what_it_needs() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        spread([])


def test_interleave_alternates_baseline_and_subject_and_pairs_the_ratios() -> None:
    order: list[str] = []
    values = iter([1.0, 2.0, 2.0, 6.0, 4.0, 4.0])

    def side(name: str):
        def run() -> dict[str, float]:
            order.append(name)
            return {"seconds": next(values)}
        return run

    result = interleave("x", 1, side("A"), side("B"), pairs=3, warmup=False)
    assert order == ["B", "A", "B", "A", "B", "A"]
    assert result.ratios() == [2.0, 3.0, 1.0]
    summary = result.summary()
    assert summary["pairs"] == 3 and summary["ratio"]["median"] == 2.0
    assert set(summary["load"]) == {"min", "max"}


def test_interleave_refuses_zero_pairs() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        interleave("x", 1, dict, dict, pairs=0)


def test_comparison_on_another_metric_reuses_the_same_runs() -> None:
    runs = [Run({"p99": 10.0, "cpu": 4.0}, 0.1, 0.2), Run({"p99": 5.0, "cpu": 1.0}, 0.1, 0.2)]
    cpu = Comparison("cpu", 100, "cpu", subject=[runs[0]], baseline=[runs[1]])
    assert cpu.ratios() == [4.0]
    assert cpu.to_json()["subject_runs"][0]["figures"]["p99"] == 10.0


def test_percentile_is_nearest_rank() -> None:
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 99) == 99.0
    assert percentile(values, 50) == 50.0
    assert percentile([7.0], 99) == 7.0


class _Counting(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Counting.seen.append(body)
        self.send_response(202 if body["n"] % 2 == 0 else 409)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Keep the test output quiet."""


def test_open_loop_sends_every_call_and_counts_statuses() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/x"
        result = open_loop([Call(url, "t", {"n": n}) for n in range(10)], rate=1000)
    finally:
        server.shutdown()
        server.server_close()
    assert result["requests"] == 10
    assert result["statuses"] == {"202": 5, "409": 5}
    assert sorted(body["n"] for body in _Counting.seen[-10:]) == list(range(10))


def test_open_loop_refuses_a_rate_of_zero() -> None:
    with pytest.raises(ValueError, match="rate must be positive"):
        open_loop([], rate=0)


def test_counting_proxy_forwards_and_counts_client_requests() -> None:
    echo = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = echo.accept()
        with connection:
            while data := connection.recv(1024):
                connection.sendall(data.upper())

    threading.Thread(target=serve, daemon=True).start()
    proxy = CountingProxy(echo.getsockname())
    try:
        with socket.create_connection(("127.0.0.1", proxy.port)) as client:
            answers = []
            for word in (b"select", b"commit", b"begin"):
                client.sendall(word)
                answers.append(client.recv(1024))  # wait for the answer: one round trip
        assert answers == [b"SELECT", b"COMMIT", b"BEGIN"]
        assert proxy.round_trips == 3
        proxy.reset()
        assert proxy.round_trips == 0
    finally:
        proxy.stop()
        echo.close()
