"""A service-mode bus over the test GitHub, with a minimal result endpoint for its jobs.

    with FakeGitHub.start(tmp_path) as gh:
        gh.create_repository(REPO, files=bookshop_files())
        store, bus = service_bus(tmp_path, gh, callback)
        bus.handle(StartSession(repository=REPO, context="catalog", base="main"))
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from service.adapters.db.engine import make_engine, upgrade
from service.adapters.db.store import Store
from service.adapters.github.client import ClientOptions
from service.bootstrap import GitHubRuntime
from service.config import Config, Secret
from service.domain.commands import RecordChildResult
from service.domain.wire import InvalidResult, parse_result
from service.orchestrator.bus import MessageBus
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
    """The result endpoint only: hands each job's result to the bus."""

    def __init__(self) -> None:
        self.bus: MessageBus | None = None
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
            assert self.bus is not None, "wire the bus first (service_bus)"
            outcome = self.bus.handle(RecordChildResult(match[1], result, REPO)).outcome
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


def service_bus(tmp_path: Path, gh: FakeGitHub,
                callback: CallbackServer) -> tuple[Store, MessageBus]:
    """Return a store and REPO's bus wired to the test GitHub and the callback."""
    url = f"sqlite:///{tmp_path / 'ccs.db'}"
    engine = make_engine(url)
    upgrade(url, engine)
    store = Store(engine)
    config = Config(github_api_url=gh.url, github_token=Secret(TOKEN),
                    public_url=callback.url, workspace_dir=tmp_path / "workspace")
    runtime = GitHubRuntime(config, store, options=ClientOptions(
        backoff=0.01, seconds_between_requests=None, seconds_between_writes=None,
        run_lookup_delay=0.05))
    bus = runtime.bus(REPO)
    callback.bus = bus
    return store, bus
