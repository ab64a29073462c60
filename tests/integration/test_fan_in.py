"""Exactly one fan-in: the last two results arriving at once cause one validate, one finalize.

Real concurrency: threads (and processes) released by a barrier call record_result for the
last two children at the same instant, on a SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.adapters.db.engine import make_engine
from service.adapters.db.store import Store
from service.adapters.git_repo import GitRepository
from service.adapters.local.host import LocalHost
from service.adapters.manifest.parse import parse_manifest
from service.domain.commands import RecordChildResult
from service.domain.wire import ChildResult, parse_result
from service.orchestrator.bus import MessageBus
from service.orchestrator.context import Ports
from tests.fakes.local import REPOSITORY, FakeExecutor, Project, Workspace, scratch_postgres

COMPONENTS = {"isbn": 40, "money": 30, "inventory": 20, "pricing": 10}
ROUNDS = 3


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fan-in.db'}"
        return
    with scratch_postgres(request.getfixturevalue("postgres_url")) as url:
        yield url


def prepare(project: Project) -> tuple[str, list[tuple[str, ChildResult]]]:
    """Start a session, finish all but the last two children; return their results."""
    session = project.start()
    project.executor.finish("isbn")
    project.executor.finish("money")
    last = [project.executor.result(name) for name in ("inventory", "pricing")]
    assert project.session(session.id).status == "running"
    return session.id, last


def assert_one_fan_in(project: Project, session_id: str) -> None:
    done = project.session(session_id)
    assert done.status == "complete", done.message
    steps = project.steps(session_id)
    assert steps.count("result") == 4
    assert steps.count("validate") == 1, steps
    assert steps.count("merge") == 1, steps
    assert steps.count("complete") == 1, steps
    assert project.branch_sha(done.branch) == done.final_commit


@pytest.mark.parametrize("attempt", range(ROUNDS))
def test_threads_racing_the_last_two_results(tmp_path: Path, database_url: str,
                                             attempt: int) -> None:
    project = Project.create(tmp_path, COMPONENTS, database_url=database_url)
    session_id, last = prepare(project)
    barrier = threading.Barrier(len(last))
    answers: list[str] = []
    errors: list[BaseException] = []

    def deliver(child_id: str, result: ChildResult) -> None:
        barrier.wait()
        try:
            answers.append(project.record(child_id, result, REPOSITORY))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=deliver, args=item) for item in last]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert answers == ["accepted", "accepted"]
    assert_one_fan_in(project, session_id)


def test_the_same_result_delivered_twice_at_once_is_recorded_once(tmp_path: Path,
                                                                  database_url: str) -> None:
    project = Project.create(tmp_path, COMPONENTS, database_url=database_url)
    session_id, last = prepare(project)
    project.executor.finish("inventory")
    child_id, result = last[1]
    barrier = threading.Barrier(3)
    answers: list[str] = []

    def deliver() -> None:
        barrier.wait()
        answers.append(project.record(child_id, result))

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(answers) == ["accepted", "duplicate", "duplicate"]
    assert_one_fan_in(project, session_id)


# Separate processes: each builds its own orchestrator on the same repository and database.


def _deliver_in_process(repo_path: str, url: str, child_id: str, body: dict,
                        barrier, answers) -> None:
    store = Store(make_engine(url))
    repo = GitRepository(repo_path)
    bus = MessageBus(Ports(store=store, git=repo, host=LocalHost(repo),
                           executor=FakeExecutor(Workspace(Path(repo_path)), store),
                           parse_manifest=parse_manifest))
    barrier.wait()
    answers.put(bus.handle(RecordChildResult(child_id, parse_result(body), REPOSITORY)).outcome)
    store.engine.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_processes_racing_the_last_two_results_on_postgres(tmp_path: Path,
                                                           postgres_url: str) -> None:
    with scratch_postgres(postgres_url) as url:
        project = Project.create(tmp_path, COMPONENTS, database_url=url)
        session_id, last = prepare(project)
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(len(last))
        answers = context.Queue()
        processes = [context.Process(target=_deliver_in_process, args=(
            str(project.path), url, child_id, result.to_json(), barrier, answers))
            for child_id, result in last]
        for process in processes:
            process.start()
        for process in processes:
            process.join()  # pytest-timeout guards a hang; a slow machine just waits
        assert [p.exitcode for p in processes] == [0, 0]
        assert sorted(answers.get(timeout=5) for _ in processes) == ["accepted", "accepted"]
        assert_one_fan_in(project, session_id)
        project.store.engine.dispose()
