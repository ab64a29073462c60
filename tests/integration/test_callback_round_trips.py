"""Database round trips of one accepted child-result callback on PostgreSQL: few and flat.

Counted from SQLAlchemy's own events on the service's engine: every statement sent, every
BEGIN, COMMIT and ROLLBACK, every pool pre-ping and every new connection's start-up (each
of those is one or more round trips to the server). No clock is read.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import event

from tests.fakes.local import scratch_postgres
from tests.fakes.queue import RecordingQueue
from tests.fakes.service_runtime import REPO, ServiceStage, bearer

pytestmark = pytest.mark.postgres

RUN_ID = 2202229078  # the fake issuer's default run_id claim
BUDGET = 5  # DESIGN-level goal (issue 12): ≤ 5 round trips per accepted callback


class RoundTrips:
    """Count what an engine sends the server, by kind, while listening."""

    def __init__(self, engine) -> None:
        self.engine, self.counts = engine, Counter()
        self._ping = engine.dialect.do_ping

    def __enter__(self) -> RoundTrips:
        for name in ("begin", "commit", "rollback", "before_cursor_execute", "connect"):
            target = self.engine.pool if name == "connect" else self.engine
            event.listen(target, name, self._counter(name))
        self.engine.dialect.do_ping = self._pinged
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.dialect.do_ping = self._ping
        for name, listener in self._listeners:
            event.remove(self.engine.pool if name == "connect" else self.engine, name, listener)

    @property
    def total(self) -> int:
        """Return the round trips counted (a new connection's start-up counts as 3)."""
        return sum(self.counts.values()) + 2 * self.counts["connect"]

    def _counter(self, name: str):
        def count(*_args, **_kwargs) -> None:
            self.counts[name] += 1
        self._listeners = [*getattr(self, "_listeners", []), (name, count)]
        return count

    def _pinged(self, connection) -> bool:
        self.counts["ping"] += 1
        return self._ping(connection)


def round_trips(tmp_path: Path, postgres_url: str, components: int) -> list[RoundTrips]:
    """Return the counts of three accepted callbacks, after one to warm the pool."""
    names = {f"c{index:03d}": 0 for index in range(components)}
    tmp_path.mkdir()
    with scratch_postgres(postgres_url) as database_url:
        stage = ServiceStage.create(tmp_path, names, queue=RecordingQueue(),
                                    database_url=database_url)
        session = stage.project.start(repository=REPO, context="catalog", base="main")
        for child in stage.store.children(session.id):
            stage.store.update_child(child.id, run_id=RUN_ID)
        client = stage.app.test_client()
        counted = []
        for index in range(4):
            child_id, result = stage.project.executor.result(f"c{index:03d}", commit=False,
                                                             status="failed")
            headers = bearer(stage.issuer.issue(repository=REPO))
            with RoundTrips(stage.store.engine) as trips:
                answer = client.post(f"/api/v1/children/{child_id}/result",
                                     json=result.to_json(), headers=headers)
            assert answer.status_code == 202, answer.json
            counted.append(trips)
        stage.store.engine.dispose()
    return counted[1:]


def test_an_accepted_callback_makes_at_most_five_round_trips_whatever_n(
        tmp_path: Path, postgres_url: str) -> None:
    small = round_trips(tmp_path / "small", postgres_url, 10)
    large = round_trips(tmp_path / "large", postgres_url, 100)
    totals = [trips.total for trips in small + large]
    detail = [dict(trips.counts) for trips in small + large]
    assert len(set(totals)) == 1, detail  # constant: in N and from one callback to the next
    assert totals[0] <= BUDGET, detail
    # What the budget is spent on: one transaction, no pre-ping, no new connection.
    assert small[0].counts == {"begin": 1, "before_cursor_execute": 2, "commit": 1}, detail
