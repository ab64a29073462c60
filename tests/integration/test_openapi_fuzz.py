"""schemathesis against /openapi.json (issue 10, finding 5): whatever a client sends that the
document allows, or nearly allows, ccs answers without a server error.

The document is the one GET /openapi.json serves (checked below); the app runs on loopback
over the real GitHub adapters and the test GitHub (which knows one repository), with a
queue that only records, so a request never runs a step. The example count is bounded (and
derandomised) so the suite stays quick.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from service.adapters.db.engine import make_engine, upgrade  # noqa: E402
from service.adapters.db.store import Store  # noqa: E402
from service.adapters.github.client import ClientOptions  # noqa: E402
from service.bootstrap import GitHubRuntime, service  # noqa: E402
from service.config import Config, Secret  # noqa: E402
from service.web.app import create_app  # noqa: E402
from service.web.openapi import document  # noqa: E402
from tests.fakes.callback_server import bookshop_files  # noqa: E402
from tests.fakes.github import FakeGitHub  # noqa: E402
from tests.fakes.queue import RecordingQueue  # noqa: E402

TOKEN, API_TOKEN = "ghp_fuzz_test_token", "api-token-for-fuzzing"
FAST = ClientOptions(backoff=0.01, secondary_rate_wait=1, seconds_between_requests=None,
                     seconds_between_writes=None, retries=0)
EXAMPLES = 30  # per operation: ~12 operations, a few hundred requests in all


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The service's Flask app over the test GitHub."""
    root = tmp_path_factory.mktemp("fuzz")
    with FakeGitHub.start(root, job_runner=None) as gh:
        gh.add_token(TOKEN)
        gh.create_repository("octo/shop", files=bookshop_files())
        url = f"sqlite:///{root / 'ccs.db'}"
        engine = make_engine(url)
        upgrade(url, engine)
        store = Store(engine)
        config = Config(github_api_url=gh.url, github_token=Secret(TOKEN),
                        api_token=Secret(API_TOKEN), webhook_secret=Secret("fuzz-secret"),
                        public_url="https://ccs.test", workspace_dir=root / "workspace")
        runtime = GitHubRuntime(config, store, options=FAST)
        yield create_app(config, service(config, store=store, runtime=runtime,
                                         queue=RecordingQueue()))


@pytest.fixture(scope="module")
def base_url(app: object) -> Iterator[str]:
    """Serve the app on a loopback port for the duration of the module."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


schema = schemathesis.openapi.from_dict(document())


def test_the_fuzzed_document_is_the_served_one(app) -> None:
    served = app.test_client().get("/openapi.json").json
    assert {**served, "servers": None} == {**document(), "servers": None}


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case, base_url: str) -> None:
    case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {API_TOKEN}"},
                           checks=[not_a_server_error])
