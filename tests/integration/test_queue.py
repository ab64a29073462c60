"""Huey wiring: which backend CCS_QUEUE_URL picks, tasks crossing a real queue, reconcile."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from huey import MemoryHuey, PriorityRedisHuey, SqliteHuey

from service.adapters.db.models import ChildRow, SessionRow
from service.adapters.queue import HueyQueue, make_huey
from service.bootstrap import Services
from service.cli import main
from service.config import Config
from service.worker import tasks
from tests.fakes.queue import RecordingQueue
from tests.fakes.service_runtime import REPO, ServiceStage


def config(tmp_path: Path, **values) -> Config:
    return Config.from_env({}, workspace_dir=tmp_path / "ws", **values)


def test_backend_follows_the_queue_url(tmp_path: Path) -> None:
    default = make_huey(config(tmp_path))
    assert isinstance(default, SqliteHuey)
    assert default.storage.filename == str(tmp_path / "ws" / "queue.db")
    redis = make_huey(config(tmp_path, queue_url="redis://127.0.0.1:6379/3"))
    assert isinstance(redis, PriorityRedisHuey)
    assert isinstance(make_huey(config(tmp_path), immediate=True), MemoryHuey)
    with pytest.raises(ValueError, match="CCS_QUEUE_URL"):
        make_huey(config(tmp_path, queue_url="amqp://x"))


def stage_services(stage: ServiceStage) -> Services:
    return stage.app.extensions["ccs"]["services"]


def started(stage: ServiceStage) -> SessionRow:
    return stage.project.start(repository=REPO, context="catalog", base="main")


def cross_the_queue(stage: ServiceStage, web, worker) -> None:
    """Enqueue through one Huey instance and run the task from another (as two processes)."""
    services = stage_services(stage)
    web_queue = HueyQueue(web, tasks.TASKS, lambda: services)
    worker_queue = HueyQueue(worker, tasks.TASKS, lambda: services)
    session = started(stage)
    for name in ("isbn", "money"):
        child_id, result = stage.project.executor.result(name)
        stage.project.record(child_id, result, REPO, fan_in=False)
    web_queue.enqueue("fan_in", session.id)
    assert stage.store.session(session.id).status == "running"
    task = worker_queue.huey.dequeue()
    worker_queue.huey.execute(task)
    assert stage.store.session(session.id).status == "complete"


def test_a_task_crosses_a_sqlite_queue(tmp_path: Path) -> None:
    stage = ServiceStage.create(tmp_path, queue=RecordingQueue())
    filename = str(tmp_path / "queue.db")
    cross_the_queue(stage, SqliteHuey("ccs", filename=filename),
                    SqliteHuey("ccs", filename=filename))


@pytest.mark.redis
def test_a_task_crosses_a_redis_queue(tmp_path: Path, redis_url: str) -> None:
    stage = ServiceStage.create(tmp_path, queue=RecordingQueue())
    name = f"ccs-test-{tmp_path.name}"
    web, worker = (PriorityRedisHuey(name, url=redis_url) for _ in range(2))
    try:
        cross_the_queue(stage, web, worker)
    finally:
        web.flush()


def test_immediate_huey_runs_tasks_at_once(tmp_path: Path) -> None:
    stage = ServiceStage.create(tmp_path, queue=RecordingQueue())
    services = stage_services(stage)
    queue = HueyQueue(make_huey(services.config, immediate=True), tasks.TASKS, lambda: services)
    session = stage.project.start(repository=REPO, context="catalog",
                                               base="main")
    stage.project.cancel(session.id)
    queue.enqueue("retry", session.id, REPO)
    assert stage.store.session(session.id).status == "running"
    assert stage.store.session(session.id).round == 2


def test_reconcile_times_out_silent_children_and_nudges_quiet_sessions(tmp_path: Path) -> None:
    queue = RecordingQueue()
    stage = ServiceStage.create(tmp_path, queue=queue, child_timeout=60)
    session = started(stage)
    old = stage.store.children(session.id)[0].updated_at - timedelta(hours=2)
    with stage.store.unit() as db:
        db.query(ChildRow).filter(ChildRow.session_id == session.id).update(
            {"updated_at": old}, synchronize_session=False)
        db.query(SessionRow).filter(SessionRow.id == session.id).update(
            {"updated_at": old}, synchronize_session=False)
    tasks.reconcile(stage_services(stage))
    children = stage.store.children(session.id)
    assert {c.status for c in children} == {"timed_out"}
    assert stage.store.session(session.id).status == "needs_attention"
    assert "no result after 60 s" in stage.store.session(session.id).message
    fresh, quiet = started(stage), started(stage)
    with stage.store.unit() as db:
        db.query(SessionRow).filter(SessionRow.id == quiet.id).update(
            {"updated_at": old}, synchronize_session=False)
    tasks.reconcile(stage_services(stage))
    assert ("advance", (quiet.id,)) in queue.calls
    assert ("advance", (fresh.id,)) not in queue.calls  # too recent to need a nudge


def test_db_upgrade_migrates_the_service_database(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCS_DATABASE_URL", f"sqlite:///{tmp_path / 'service.db'}")
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "service.db").exists()
