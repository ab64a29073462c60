"""Scale-out: PostgreSQL, a Redis queue, two web workers and two queue workers, 50 children
whose callbacks arrive at the same instant -> exactly one fan-in (DESIGN §8).

Queries per callback not growing with the number of children is tested in-process in
tests/integration/test_web_callbacks.py (test_queries_per_callback_do_not_grow_with_children).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.fakes.fast_jobs import CONTEXT, FastJobRunner, project_files
from tests.fakes.github import FakeGitHub
from tests.fakes.service_process import ServiceProcess, WorkerProcess, service_env, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

CHILDREN = 50
REPO = "bulk/shop"
REDIS_DB = 11


@pytest.fixture
def fresh_database(postgres_url: str) -> Iterator[str]:
    """Create an empty database ccs_e2e_<random> on the test server; drop it afterwards."""
    import psycopg

    url = make_url(postgres_url)
    name = f"ccs_e2e_{uuid.uuid4().hex[:10]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_queue(redis_url: str) -> Iterator[str]:
    """Return a Redis URL on a database of its own, flushed before and after."""
    import redis

    url = make_url(redis_url).set(database=str(REDIS_DB)).render_as_string(
        hide_password=False)
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


def test_fifty_simultaneous_callbacks_fan_in_once_on_postgres_and_redis(
        tmp_path: Path, fresh_database: str, fresh_queue: str) -> None:
    barrier = threading.Barrier(CHILDREN)
    with FakeGitHub.start(tmp_path, max_parallel=CHILDREN + 4) as gh:
        runner = FastJobRunner(gh, barrier)
        gh.job_runner = runner
        gh.create_repository(REPO, files=project_files(CHILDREN))
        settings = service_env(gh, tmp_path, CCS_DATABASE_URL=fresh_database,
                               CCS_QUEUE_URL=fresh_queue)
        processes = []
        try:
            service = ServiceProcess.start(tmp_path, settings, workers=2, no_worker=True)
            processes.append(service)
            gh.webhook_url = service.webhook_url
            processes += [WorkerProcess.start(tmp_path, {**settings, "CCS_PUBLIC_URL":
                                                         service.url}, index)
                          for index in range(2)]

            status, created = service.request("POST", "/api/v1/sessions",
                                              {"repository": REPO, "context": CONTEXT})
            assert status == 201, created
            session = wait_until(
                lambda: (lambda s: s if s["status"] in ("complete", "needs_attention",
                                                        "failed") else None)(
                    service.session(created["id"])),
                90, "the session did not rest", *processes,
                progress=lambda: len(gh.calls))
        finally:
            for process in processes:
                process.stop()

        assert session["status"] == "complete", session["message"]
        assert sorted(runner.statuses) == [202] * CHILDREN
        steps = [interaction["step"] for interaction in session["interactions"]]
        assert steps.count("validate") == 1 and steps.count("complete") == 1
        assert len(gh.calls_to("POST", f"/repos/{REPO}/pulls")) == 1
        assert len(gh.calls_to("POST", f"/repos/{REPO}/actions/workflows/*/dispatches")) == 1
        assert session["progress"]["succeeded"] == CHILDREN
