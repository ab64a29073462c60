"""The API over the real GitHub adapters: GitHub's own answers become 4xx/5xx with a message,
never an opaque 500 (DESIGN §5)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.adapters.db.engine import make_engine, upgrade
from service.adapters.db.store import Store
from service.adapters.github.client import ClientOptions
from service.bootstrap import GitHubRuntime, service
from service.config import Config, Secret
from service.web.app import create_app
from tests.fakes.github import FakeGitHub
from tests.fakes.queue import RecordingQueue

TOKEN, API_TOKEN = "ghp_api_test_token", "api-token-for-tests"
FAST = ClientOptions(backoff=0.01, secondary_rate_wait=1, seconds_between_requests=None,
                     seconds_between_writes=None, retries=0)


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub.start(tmp_path, job_runner=None) as fake:
        fake.add_token(TOKEN)
        yield fake


def app_for(tmp_path: Path, api_url: str):
    url = f"sqlite:///{tmp_path / 'ccs.db'}"
    engine = make_engine(url)
    upgrade(url, engine)
    store = Store(engine)
    config = Config(github_api_url=api_url, github_token=Secret(TOKEN),
                    api_token=Secret(API_TOKEN), public_url="https://ccs.test",
                    workspace_dir=tmp_path / "workspace")
    runtime = GitHubRuntime(config, store, options=FAST)
    return create_app(config, service(config, store=store, runtime=runtime,
                                      queue=RecordingQueue()))


def start(app, repository: str):
    return app.test_client().post("/api/v1/sessions", json={
        "repository": repository, "context": "shop"},
        headers={"Authorization": f"Bearer {API_TOKEN}"})


def test_a_repository_github_does_not_know_is_404(gh: FakeGitHub, tmp_path: Path) -> None:
    answer = start(app_for(tmp_path, gh.url), "nobody/nothing")
    assert answer.status_code == 404, answer.json
    assert answer.json["error"]["code"] == "github_not_found"
    assert "no such repository" in answer.json["error"]["message"]


def test_github_unreachable_is_503_with_a_message(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    answer = start(app_for(tmp_path, f"http://127.0.0.1:{port}"), "octo/shop")
    assert answer.status_code in (502, 503), answer.json
    assert answer.json["error"]["code"] in ("github_unreachable", "github_error")


def test_a_wrong_method_says_which_are_allowed(gh: FakeGitHub, tmp_path: Path) -> None:
    answer = app_for(tmp_path, gh.url).test_client().delete("/api/v1/sessions")
    assert answer.status_code == 405
    assert set(answer.headers["Allow"].split(", ")) >= {"GET", "POST"}


@pytest.mark.parametrize("repository", ["octo/sh\x00op", "octo/../x", "-octo/shop",
                                        "octo/" + "x" * 101, "oc to/shop"])
def test_a_repository_name_github_would_never_have_is_400(gh: FakeGitHub, tmp_path: Path,
                                                          repository: str) -> None:
    # schemathesis found "octo/\x00…" reaching the mirror's path: a 500 (embedded null byte).
    answer = start(app_for(tmp_path, gh.url), repository)
    assert answer.status_code == 400, answer.json
    assert answer.json["error"]["code"] == "bad_field"
    assert gh.calls == []
