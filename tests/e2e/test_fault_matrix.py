"""The kill-point fault matrix (issue 10): SIGKILL ccs at every step boundary of a session,
restart it, and count what GitHub was asked to do. Each kill point must resume to exactly
one branch, one dispatch per chunk, one tracking comment and one pull request.

A kill is placed by event, never by clock: the test GitHub holds the one request that marks
the step (`gh.hold`, `gh.hold_push`), the test waits until that request has arrived, kills,
then lets GitHub carry the request out (as the real one does with a request whose caller
died) and restarts ccs. Backends: SQLite with the default Huey SQLite queue (the whole
`ccs serve` is killed) and PostgreSQL + Redis (`ccs serve --no-worker` and one `ccs worker`;
the worker is killed).

Every kill point of a backend shares one kill: each point has a repository of its own, all
sessions start at once, each stops at its own hold, and when every hold has its request
the service dies. One crash and one restart per backend keep the matrix fast; each kill
point is still its own test (and its own row of the table in docs/reliability.md).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from service.adapters.github.tracking import marker
from tests.fakes.fast_jobs import CONTEXT, FastJobRunner, project_files
from tests.fakes.github import FakeGitHub
from tests.fakes.github_holds import Hold
from tests.fakes.service_process import (
    Process,
    ServiceProcess,
    WorkerProcess,
    service_env,
    wait_until,
)

pytestmark = pytest.mark.slow
REDIS_DB = 13
QUIET = 60  # seconds without any progress before a wait fails (never a total deadline)
THREADS = 16  # worker threads: every held request keeps one busy until the kill
APP_ID = 7100
BOT_LOGIN = "ccs[bot]"


@dataclass(frozen=True)
class KillPoint:
    """Where a kill lands: the request held there, and what must have happened first."""

    what: str
    arm: Callable[[FakeGitHub, str], Hold]
    command: str = f"/ccs implement {CONTEXT}"
    ready: Callable[[ServiceProcess, str], bool] | None = None


def _first_child_succeeded(ccs: ServiceProcess, repo: str) -> bool:
    sessions = ccs.sessions(repo)
    return bool(sessions) and any(c["status"] == "succeeded"
                                  for c in ccs.session(sessions[0]["id"])["children"])


def _callback(component: str) -> Callable[[FakeGitHub, str], Hold]:
    return lambda gh, repo: gh.hold("between_callbacks", "CALLBACK", f"/{repo}/{component}")


KILL_POINTS = {
    "after_2xx": KillPoint("webhook answered 202, handler's first call (permission) in flight",
                           lambda gh, r: gh.hold("after_2xx", "GET",
                                                 f"/repos/{r}/collaborators/*/permission")),
    "in_handler": KillPoint("inside the handler: write access checked, 👀 in flight",
                            lambda gh, r: gh.hold("in_handler", "POST",
                                                  f"/repos/{r}/issues/comments/*/reactions")),
    "branch": KillPoint("session branch created, the answer lost",
                        lambda gh, r: gh.hold("branch", "POST", f"/repos/{r}/git/refs")),
    "dispatch": KillPoint("workflow dispatched, the answer (run id) lost",
                          lambda gh, r: gh.hold("dispatch", "POST",
                                                f"/repos/{r}/actions/workflows/*/dispatches")),
    "tracking_comment": KillPoint("tracking comment posted, its id never stored",
                                  lambda gh, r: gh.hold("tracking_comment", "POST",
                                                        f"/repos/{r}/issues/*/comments")),
    "between_callbacks": KillPoint("first child's result recorded, second one on its way",
                                   _callback("c0001"), ready=_first_child_succeeded),
    "merge": KillPoint("finalize merged; pushing the merged commit to the staging branch",
                       lambda gh, r: gh.hold_push("merge", r, "ccs-staging/*")),
    "push": KillPoint("finalize verified; pushing the session branch",
                      lambda gh, r: gh.hold_push("push", r, "ccs/*")),
    "pull_request": KillPoint("pull request opened, the answer lost",
                              lambda gh, r: gh.hold("pull_request", "POST", f"/repos/{r}/pulls")),
    "reply": KillPoint("a command's reply posted, the delivery not marked done",
                       lambda gh, r: gh.hold("reply", "POST", f"/repos/{r}/issues/*/comments"),
                       command="/ccs status"),
}


@dataclass
class Scene:
    """One kill point's repository, issue and hold."""

    point: KillPoint
    repo: str
    issue: int
    hold: Hold


@dataclass
class World:
    """The test GitHub, the service, the process a kill takes down, and the scenes."""

    backend: str
    gh: FakeGitHub
    web: ServiceProcess
    victim: Process
    service_up: threading.Event
    processes: list[Process] = field(default_factory=list)
    scenes: dict[str, Scene] = field(default_factory=dict)
    calls_at_restart: int = 0

    def crash(self) -> None:
        """SIGKILL the victim while every hold keeps its request; let GitHub finish them;
        restart."""
        self.service_up.clear()  # jobs wait to call back until the service is up again
        self.victim.kill()
        for scene in self.scenes.values():
            scene.hold.release()
        for scene in self.scenes.values():
            if not scene.hold.calls[0].startswith("CALLBACK"):
                scene.hold.wait_done()
        self.calls_at_restart = len(self.gh.calls)
        if self.victim is self.web:
            self.web.restart()
        else:
            self.victim.launch()
        self.service_up.set()

    def progress(self) -> int:
        """What moves while ccs works: the calls GitHub saw."""
        return len(self.gh.calls)


def _start(backend: str, root: Path, settings: dict[str, str]) -> tuple[ServiceProcess,
                                                                        Process, list[Process]]:
    if backend == "sqlite":
        web = ServiceProcess.start(root, settings, worker_threads=THREADS)
        return web, web, [web]
    web = ServiceProcess.start(root, settings, no_worker=True)
    worker = WorkerProcess.start(root, {**settings, "CCS_PUBLIC_URL": web.url},
                                 threads=THREADS)
    return web, worker, [web, worker]


@pytest.fixture(scope="module", params=["sqlite", "postgres+redis"])
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One test GitHub and one service per backend; every kill point staged, then one kill."""
    root = tmp_path_factory.mktemp(f"matrix-{request.param.split('+')[0]}")
    overrides = {} if request.param == "sqlite" else _pg_and_redis(request)
    home = root / "home"
    home.mkdir()
    service_up = threading.Event()
    service_up.set()
    with FakeGitHub.start(root, max_parallel=16) as gh:
        gh.job_runner = FastJobRunner(gh, service_up=service_up)
        settings = {**service_env(gh, root, **overrides), **_as_an_app(gh),
                    "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}
        del settings["CCS_GITHUB_TOKEN"]
        web, victim, processes = _start(request.param, root, settings)
        world = World(request.param, gh, web, victim, service_up, processes)
        gh.webhook_url = web.webhook_url
        try:
            _stage_and_crash(world)
            yield world
        finally:
            service_up.set()
            gh.holds.release_all()
            for process in world.processes:
                process.stop()


def _as_an_app(gh: FakeGitHub) -> dict[str, str]:
    """Run ccs as a GitHub App: each kill point's repository gets an installation (and so a
    client and a write lock) of its own, so that one held write holds no other point up."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    gh.register_app(APP_ID, key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return {"CCS_GITHUB_APP_ID": str(APP_ID), "CCS_GITHUB_PRIVATE_KEY": private,
            "CCS_BOT_LOGIN": BOT_LOGIN}


def _pg_and_redis(request: pytest.FixtureRequest) -> dict[str, str]:
    """A database and a Redis database of the matrix's own (dropped/flushed afterwards)."""
    import psycopg
    import redis
    from sqlalchemy.engine import make_url

    postgres = make_url(request.getfixturevalue("postgres_url"))
    queue = make_url(request.getfixturevalue("redis_url")).set(database=str(REDIS_DB))
    name = f"ccs_matrix_{uuid.uuid4().hex[:10]}"
    admin = postgres.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    queue_url = queue.render_as_string(hide_password=False)
    client = redis.Redis.from_url(queue_url)
    client.flushdb()

    def clean_up() -> None:
        client.flushdb()
        client.close()
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    request.addfinalizer(clean_up)
    return {"CCS_DATABASE_URL": postgres.set(database=name).render_as_string(
        hide_password=False), "CCS_QUEUE_URL": queue_url}


# The story --------------------------------------------------------------------------


def _stage_and_crash(world: World) -> None:
    """Send every kill point's command, wait until each is at its hold, kill, restart."""
    gh = world.gh
    for name, point in KILL_POINTS.items():
        repo = _new_repo(gh)
        issue = gh.create_issue(repo).number
        world.scenes[name] = Scene(point, repo, issue, point.arm(gh, repo))
    for scene in world.scenes.values():
        assert gh.send_webhook("issue_comment", gh.comment_payload(
            scene.repo, scene.issue, scene.point.command)) == 202
    for scene in world.scenes.values():
        scene.hold.wait_arrived(world.progress, QUIET)
        if scene.point.ready is not None:
            wait_until(lambda s=scene: s.point.ready(world.web, s.repo), QUIET,
                       f"{scene.hold.name}: not ready for the kill", *world.processes,
                       progress=world.progress)
    world.crash()


def _rested_session(world: World, repo: str) -> dict[str, Any]:
    """Wait (driven by progress) for the repository's one session to rest; return it."""
    found = wait_until(lambda: world.web.sessions(repo), QUIET, f"no session in {repo}",
                       *world.processes, progress=world.progress)
    return world.web.wait_for_status(found[0]["id"], timeout=QUIET)


def _effects(gh: FakeGitHub, repo: str, issue: int, session: dict[str, Any]) -> dict[str, int]:
    """Count what GitHub holds: branches created, runs per mode, tracking comments, pulls."""
    ref = f"refs/heads/{session['branch']}"
    runs = [run.inputs.get("mode", "component") for run in gh.runs(repo)]
    bot = [c for c in gh.comments(repo, issue) if c.user.login == BOT_LOGIN]
    return {
        "branches": sum(1 for call in gh.calls_to("POST", f"/repos/{repo}/git/refs")
                        if call.status == 201 and call.json_body.get("ref") == ref),
        "component_dispatches": runs.count("component"),
        "verify_dispatches": runs.count("verify"),
        "tracking_comments": sum(1 for c in bot if c.body.startswith(marker(session["id"]))),
        "other_comments": sum(1 for c in bot if not c.body.startswith(marker(session["id"]))),
        "pull_requests": len(gh.pull_requests(repo)),
    }


ONE_OF_EACH = {"branches": 1, "component_dispatches": 1, "verify_dispatches": 1,
               "tracking_comments": 1, "other_comments": 0, "pull_requests": 1}


def _new_repo(gh: FakeGitHub) -> str:
    """Create a two-component project (with verify) under an account of its own, with the
    App installed on it; alice may write."""
    owner = f"m-{uuid.uuid4().hex[:8]}"
    repo = f"{owner}/project"
    gh.create_repository(repo, files=project_files(2, verify=True))
    gh.add_user("alice", permission="write", repo=repo)
    gh.add_installation(APP_ID, owner, [repo])
    return repo


@pytest.mark.parametrize("point", [name for name in KILL_POINTS if name != "reply"])
def test_a_kill_at_each_step_resumes_to_one_of_each(world: World, point: str) -> None:
    scene = world.scenes[point]

    session = _rested_session(world, scene.repo)

    assert session["status"] == "complete", (session["message"], world.victim.logs()[-5000:])
    assert _effects(world.gh, scene.repo, scene.issue, session) == ONE_OF_EACH
    assert len(world.web.sessions(scene.repo)) == 1
    print(f"\nMATRIX | {point} | {world.backend} | completed | 0 duplicates")


def test_a_kill_after_a_command_reply_posts_it_once(world: World) -> None:
    gh, scene = world.gh, world.scenes["reply"]
    path = f"/repos/{scene.repo}/issues/{scene.issue}/comments"

    # The restarted worker re-drives the delivery: it looks for (or posts) the reply again.
    wait_until(lambda: [c for c in gh.calls[world.calls_at_restart:] if c.path == path],
               QUIET, "the delivery was not re-driven", *world.processes,
               progress=world.progress)

    replies = [c for c in gh.comments(scene.repo, scene.issue) if c.user.login == BOT_LOGIN]
    assert len(replies) == 1, [c.body for c in replies]
    assert "no ccs session yet" in replies[0].body
    print(f"\nMATRIX | reply | {world.backend} | completed | {len(replies) - 1} duplicates")
