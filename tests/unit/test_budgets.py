"""Usage and budgets (DESIGN §3a) as stories on the in-memory ports (and on git + SQLite)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from service.domain.spend import Usage
from service.orchestrator.finalize import pull_request_body
from service.web.shapes import session_json
from tests.fakes.local import Project

CATALOG = {"pricing": 10, "isbn": 40, "money": 30}  # spawn order: isbn, money, pricing


@pytest.fixture(params=["memory", pytest.param("git", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def spend(dollars: float, tokens_in: int = 1000, tokens_out: int = 100) -> Usage:
    return Usage(dollars, tokens_in, tokens_out)


def test_usage_sums_per_child_and_per_session(tmp_path: Path, backend: str) -> None:
    project = Project.create(tmp_path, CATALOG, backend=backend)
    session = project.start()
    project.executor.finish("isbn", usage=spend(0.25, 1000, 100))
    project.executor.finish("money", usage=spend(0.5, 2000, 200))
    project.executor.finish("pricing")  # an agent that reports nothing counts as 0

    children = project.children(session.id)
    assert (children["isbn"].cost_usd, children["isbn"].input_tokens) == (0.25, 1000)
    assert children["pricing"].cost_usd == 0
    assert project.store.usage(session.id) == Usage(0.75, 3000, 300)
    shown = session_json(project.store, project.session(session.id))
    assert shown["usage"] == {"cost_usd": 0.75, "input_tokens": 3000, "output_tokens": 300}
    assert shown["budget"] is None
    assert {c["component"]: c["usage"]["cost_usd"] for c in shown["children"]} == {
        "isbn": 0.25, "money": 0.5, "pricing": 0}
    body = pull_request_body(project.session(session.id), list(children.values()))
    assert "Spent in all: $0.75 · 3,000 in / 300 out tokens." in body


def test_passing_the_cost_budget_cancels_the_running_children(tmp_path: Path,
                                                              backend: str) -> None:
    project = Project.create(tmp_path, CATALOG, backend=backend, budget={"cost_usd": 1.0})
    session = project.start()
    project.executor.finish("isbn", usage=spend(0.6))
    assert project.session(session.id).status == "running"  # 0.60 of 1.00
    project.executor.finish("money", usage=spend(0.6))

    rested = project.session(session.id)
    assert rested.status == "needs_attention"
    assert rested.message.startswith(
        "budget.cost_usd reached: the children spent $1.20 of $1.00.")
    assert f"ccs retry {session.id}" in rested.message
    assert project.executor.cancelled == ["pricing"]
    assert project.children(session.id)["pricing"].status == "cancelled"
    assert "validate" not in project.steps(session.id)  # no fan-in after the budget tripped
    # The cancelled job still reports: its result is a duplicate, nothing moves.
    assert project.executor.finish("pricing", usage=spend(0.1)) == "duplicate"
    assert project.session(session.id).status == "needs_attention"


def test_the_last_result_passing_the_budget_parks_instead_of_validating(
        tmp_path: Path, backend: str) -> None:
    project = Project.create(tmp_path, CATALOG, backend=backend, budget={"cost_usd": 1.0})
    session = project.start()
    project.executor.finish("isbn", usage=spend(0.4))
    project.executor.finish("money", usage=spend(0.4))
    project.executor.finish("pricing", usage=spend(0.4))
    rested = project.session(session.id)
    assert rested.status == "needs_attention" and "$1.20 of $1.00" in rested.message
    assert project.steps(session.id).count("budget") == 1
    assert project.executor.cancelled == []  # nobody was left to stop


def test_the_minutes_budget_trips_as_time_passes(tmp_path: Path, backend: str) -> None:
    project = Project.create(tmp_path, CATALOG, backend=backend, budget={"minutes": 30})
    session = project.start()
    assert project.bus.check_budget(session.id) is False
    project.clock.move(timedelta(minutes=31))
    assert project.bus.check_budget(session.id) is True
    assert project.bus.check_budget(session.id) is False  # once
    rested = project.session(session.id)
    assert rested.status == "needs_attention"
    assert "budget.minutes reached: the run took 31.0 of 30 minutes" in rested.message
    assert project.executor.cancelled == ["isbn", "money", "pricing"]


def test_a_retry_starts_a_fresh_budget(tmp_path: Path, backend: str) -> None:
    project = Project.create(tmp_path, CATALOG, backend=backend, budget={"cost_usd": 1.0})
    session = project.start()
    project.executor.finish("isbn", usage=spend(0.9))
    project.executor.finish("money", usage=spend(0.9))
    assert project.session(session.id).status == "needs_attention"

    project.retry(session.id)
    assert project.executor.dispatched[3:] == ["pricing"]
    project.executor.finish("pricing", usage=spend(0.9))  # 0.90 of a fresh 1.00
    done = project.session(session.id)
    assert done.status == "complete", done.message
    assert project.store.usage(session.id, done.round) == Usage(0.9, 1000, 100)
