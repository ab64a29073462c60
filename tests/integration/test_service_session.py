"""A whole service-mode session in-process: the test GitHub runs the real action as its jobs."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from service.adapters.db.engine import make_engine, upgrade
from service.adapters.db.store import Store
from service.adapters.github.client import ClientOptions
from service.adapters.github.runtime import ServiceRuntime
from service.config import Config, Secret
from service.domain.wire import InvalidResult, parse_result
from service.orchestrator.core import Orchestrator
from service.orchestrator.errors import UnknownSession
from tests.fakes.github import FakeGitHub

REPO = "books/shop"
TOKEN = "ghp_session_token"
BOOKSHOP = Path(__file__).resolve().parents[2] / "examples" / "bookshop"
RESULT_PATH = re.compile(r"^/api/v1/children/([^/]+)/result$")


def bookshop_files() -> dict[str, str]:
    """Return the example project's files, as a repository would hold them."""
    return {str(path.relative_to(BOOKSHOP)): path.read_text()
            for path in sorted(BOOKSHOP.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts
            and ".pytest_cache" not in path.parts}


class CallbackServer:
    """The result endpoint only: hands each job's result to the orchestrator."""

    def __init__(self) -> None:
        self.orchestrator: Orchestrator | None = None
        self.received: list[tuple[str, int]] = []
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def app(self, environ: dict, start_response) -> object:
        request = Request(environ)
        match = RESULT_PATH.match(request.path)
        if request.method != "POST" or match is None:
            return Response("not found", 404)(environ, start_response)
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return Response("no token", 401)(environ, start_response)
        try:
            result = parse_result(json.loads(request.get_data()))
            outcome = self.orchestrator.record_result(match[1], result, repository=REPO)
        except (InvalidResult, ValueError):
            return Response("bad result", 400)(environ, start_response)
        except UnknownSession:
            return Response("unknown child", 404)(environ, start_response)
        status = 409 if outcome == "duplicate" else 200
        self.received.append((match[1], status))
        return Response(json.dumps({"outcome": outcome}), status,
                        mimetype="application/json")(environ, start_response)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def service_orchestrator(tmp_path: Path, gh: FakeGitHub,
                         callback: CallbackServer) -> tuple[Store, Orchestrator]:
    """Return a store and REPO's orchestrator wired to the test GitHub and the callback."""
    url = f"sqlite:///{tmp_path / 'ccs.db'}"
    engine = make_engine(url)
    upgrade(url, engine)
    store = Store(engine)
    config = Config(github_api_url=gh.url, github_token=Secret(TOKEN),
                    public_url=callback.url, workspace_dir=tmp_path / "workspace")
    runtime = ServiceRuntime(config, store, options=ClientOptions(
        backoff=0.01, seconds_between_requests=None, seconds_between_writes=None,
        run_lookup_delay=0.05))
    orchestrator = runtime.orchestrator(REPO)
    callback.orchestrator = orchestrator
    return store, orchestrator


@pytest.fixture
def callback() -> Iterator[CallbackServer]:
    server = CallbackServer()
    yield server
    server.stop()


def test_bookshop_session_runs_on_actions_and_opens_a_pull_request(
        tmp_path: Path, callback: CallbackServer) -> None:
    with FakeGitHub.start(tmp_path) as gh:
        gh.create_repository(REPO, files=bookshop_files())
        gh.add_token(TOKEN)
        issue = gh.create_issue(REPO, title="Implement the catalog")
        store, orchestrator = service_orchestrator(tmp_path, gh, callback)

        session = orchestrator.start(repository=REPO, context="catalog", base_ref="main",
                                     issue=issue.number, source="comment")
        done = gh.wait_for(lambda: store.session(session.id).status in (
            "complete", "needs_attention", "failed"), timeout=120)
        session = store.session(session.id)

        assert done and session.status == "complete", session.message
        runs = gh.runs(REPO)
        assert [run.inputs["mode"] for run in runs] == ["component", "verify"]
        verify_entry = json.loads(runs[1].inputs["matrix"])["include"]
        assert verify_entry[0]["ref"] == f"ccs-staging/{session.id}"
        assert gh.branch_sha(REPO, session.branch) == session.final_commit
        for component in ("isbn", "money", "inventory", "pricing"):
            assert gh.read_file(REPO, session.branch, f"src/catalog/{component}.py")

        (pull,) = gh.pull_requests(REPO)
        assert pull.draft and pull.head == session.branch and pull.base == "main"
        assert "| component | attempts | tests |" in pull.body and "| pricing |" in pull.body
        assert session.pull_request_url.endswith(f"/pull/{pull.number}")

        # The session rests a moment before the reporter's last edit lands.
        gh.wait_for(lambda: "Pull request:" in gh.comments(REPO, issue.number)[0].body)
        (comment,) = gh.comments(REPO, issue.number)
        assert comment.body.startswith(f"<!-- ccs:session:{session.id} -->")
        assert "**4 of 4 done**" in comment.body
        assert f"Pull request: {session.pull_request_url}" in comment.body
        assert len(gh.calls_to("POST", f"/repos/{REPO}/issues/{issue.number}/comments")) == 1
        assert len(callback.received) == 5
        assert gh.schema_errors == []
