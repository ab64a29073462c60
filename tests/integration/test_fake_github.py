"""The test GitHub answers like GitHub: driven with PyGithub and with raw HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import github
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.fakes.github import WEBHOOK_SECRET, FakeGitHub
from tests.fakes.github_runner import ActionJobRunner
from tests.fakes.github_state import WorkflowRun

REPO = "octo/shop"
TOKEN = "tkn"
# PyGithub throttles by default (0.25 s per request, 1 s per write) and retries.
FAST: dict[str, Any] = {"seconds_between_requests": 0, "seconds_between_writes": 0,
                        "retry": None}


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[FakeGitHub]:
    """Serve a test GitHub with one repository, an issue, alice (write) and a token."""
    with FakeGitHub.start(tmp_path, job_runner=None) as fake:
        fake.create_repository(REPO, files={"README.md": "# shop\n", "src/app.py": "x = 1\n"})
        fake.add_user("alice", permission="write", repo=REPO)
        fake.add_token("tkn")
        fake.create_issue(REPO, title="Accounts", user="alice")
        yield fake
        assert fake.schema_errors == []


def client(gh: FakeGitHub, token: str = TOKEN) -> github.Github:
    """Return a PyGithub client talking to the fake (no write throttling, no retries)."""
    return github.Github(base_url=gh.url, auth=github.Auth.Token(token), **FAST)


def call(gh: FakeGitHub, method: str, path: str, body: Any = None,
         token: str | None = TOKEN) -> tuple[int, dict[str, str], Any]:
    """Send one raw HTTP request; return status, headers and parsed JSON (or None)."""
    headers = {"Accept": "application/vnd.github+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(gh.url + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, answer, text = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, answer, text = error.code, dict(error.headers), error.read()
    return status, answer, json.loads(text) if text else None


def test_repository_is_served_and_clonable(gh: FakeGitHub, tmp_path: Path) -> None:
    repo = client(gh).get_repo(REPO)

    assert (repo.full_name, repo.default_branch) == (REPO, "main")
    subprocess.run(["git", "clone", "-q", repo.clone_url, str(tmp_path / "clone")], check=True)
    assert (tmp_path / "clone" / "src" / "app.py").read_text() == "x = 1\n"
    assert repo.get_branch("main").commit.sha == gh.branch_sha(REPO, "main")


def test_refs_create_conflict_fast_forward_and_delete(gh: FakeGitHub) -> None:
    repo = client(gh).get_repo(REPO)
    base = gh.branch_sha(REPO, "main")
    ref = repo.create_git_ref("refs/heads/ccs/accounts-1", base)

    with pytest.raises(github.GithubException) as conflict:
        repo.create_git_ref("refs/heads/ccs/accounts-1", base)
    assert conflict.value.status == 422
    assert conflict.value.data["message"] == "Reference already exists"

    ahead = gh.commit_files(REPO, "ccs-other", {"b.txt": "b"})
    ref.edit(ahead)
    assert gh.branch_sha(REPO, "ccs/accounts-1") == ahead
    status, _, body = call(gh, "PATCH", f"/repos/{REPO}/git/refs/heads/ccs/accounts-1",
                           {"sha": base, "force": False})
    assert (status, body["message"]) == (422, "Update is not a fast forward")
    ref.edit(base, force=True)
    assert repo.get_git_ref("heads/ccs/accounts-1").object.sha == base

    ref.delete()
    assert call(gh, "GET", f"/repos/{REPO}/git/ref/heads/ccs/accounts-1")[0] == 404
    assert call(gh, "DELETE", f"/repos/{REPO}/git/refs/heads/main")[0] == 422


def test_contents_at_a_ref(gh: FakeGitHub) -> None:
    repo = client(gh).get_repo(REPO)
    first = gh.branch_sha(REPO, "main")
    gh.commit_files(REPO, "main", {"src/app.py": "x = 2\n"})

    assert repo.get_contents("src/app.py").decoded_content == b"x = 2\n"
    assert repo.get_contents("src/app.py", ref=first).decoded_content == b"x = 1\n"
    status, _, body = call(gh, "GET", f"/repos/{REPO}/contents/nope.txt?ref=main")
    assert (status, body["message"]) == (404, "Not Found")


def test_comments_paginate_with_link_headers(gh: FakeGitHub) -> None:
    for number in range(45):
        gh.add_comment(REPO, 1, f"comment {number}")

    status, headers, page = call(gh, "GET", f"/repos/{REPO}/issues/1/comments?per_page=20")
    assert status == 200 and len(page) == 20
    assert 'rel="next"' in headers["Link"] and "page=3" in headers["Link"]
    issue = client(gh).get_repo(REPO).get_issue(1)
    assert [c.body for c in issue.get_comments()] == [f"comment {n}" for n in range(45)]


def test_comment_edit_and_reactions(gh: FakeGitHub) -> None:
    comment = client(gh).get_repo(REPO).get_issue(1).create_comment("ccs: starting")
    comment.edit("ccs: running")
    comment.create_reaction("rocket")

    status, _, _ = call(gh, "POST", f"/repos/{REPO}/issues/comments/{comment.id}/reactions",
                        {"content": "rocket"})
    stored = gh.comments(REPO, 1)[-1]
    assert status == 200 and stored.body == "ccs: running"
    assert [(r.content, r.user.login) for r in stored.reactions] == [("rocket", "ccs-bot")]


def test_permission(gh: FakeGitHub) -> None:
    gh.add_user("mallory")
    repo = client(gh).get_repo(REPO)

    assert repo.get_collaborator_permission("alice") == "write"
    assert repo.get_collaborator_permission("mallory") == "read"
    assert call(gh, "GET", f"/repos/{REPO}/collaborators/ghost/permission")[0] == 404


def test_dispatch_with_and_without_run_details(gh: FakeGitHub) -> None:
    path = f"/repos/{REPO}/actions/workflows/ccs.yml/dispatches"
    inputs = {"session": "s1", "matrix": json.dumps({"include": [{"child": "c1"}]})}

    status, _, details = call(gh, "POST", path, {"ref": "main", "inputs": inputs,
                                                 "return_run_details": True})
    assert status == 200 and details["run_url"].endswith(f"/runs/{details['workflow_run_id']}")
    gh.dispatch_details_unsupported = 422
    assert call(gh, "POST", path, {"ref": "main", "inputs": {"session": "s2"},
                                   "return_run_details": True})[0] == 422
    assert call(gh, "POST", path, {"ref": "main", "inputs": {"session": "s2"}})[0] == 204

    workflow = client(gh).get_repo(REPO).get_workflow("ccs.yml")
    titles = [run.raw_data["display_title"] for run in workflow.get_runs()]
    assert titles == ["ccs s2", "ccs s1"]
    run = client(gh).get_repo(REPO).get_workflow_run(details["workflow_run_id"])
    assert [job.name for job in run.jobs()] == ["child (c1)"]


@pytest.mark.parametrize(("body", "message"), [
    ({"ref": "nope", "inputs": {}}, "No ref found for: nope"),
    ({"ref": "main", "inputs": {"attempts": 3}}, "is not a string"),
    ({"ref": "main", "inputs": {f"i{n}": "x" for n in range(26)}}, "up to 25"),
])
def test_dispatch_rejects_what_github_rejects(gh: FakeGitHub, body: dict, message: str) -> None:
    strict = gh.strict
    gh.strict = False  # The request bodies break the schema on purpose.
    status, _, answer = call(gh, "POST", f"/repos/{REPO}/actions/workflows/ccs.yml/dispatches",
                             body)
    gh.strict = strict
    assert status == 422 and message in answer["message"]
    assert gh.runs(REPO) == []


def test_pull_requests_create_and_list_by_head(gh: FakeGitHub) -> None:
    repo = client(gh).get_repo(REPO)
    gh.commit_files(REPO, "ccs/accounts-1", {"src/accounts.py": "pass\n"})

    pull = repo.create_pull(base="main", head="ccs/accounts-1", title="ccs: accounts",
                            body="done", draft=True)
    with pytest.raises(github.GithubException) as duplicate:
        repo.create_pull(base="main", head="ccs/accounts-1", title="again", body="")
    assert duplicate.value.status == 422
    listed = repo.get_pulls(state="open", head="octo:ccs/accounts-1")
    assert [p.number for p in listed] == [pull.number]
    assert list(repo.get_pulls(head="octo:ccs/other")) == []
    assert gh.pull_requests(REPO)[0].draft is True


def test_merge_moves_the_base(gh: FakeGitHub) -> None:
    head = gh.commit_files(REPO, "ccs-child", {"c.txt": "c"})
    gh.commit_files(REPO, "main", {"m.txt": "m"})

    merged = client(gh).get_repo(REPO).merge("main", "ccs-child", "merge child")
    assert merged.parents[1].sha == head and gh.branch_sha(REPO, "main") == merged.sha
    assert gh.read_file(REPO, "main", "c.txt") == "c"


def test_installation_token_flow_with_an_app_jwt(gh: FakeGitHub) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    gh.register_app(4242, public_pem)
    gh.add_installation(4242, "octo", [REPO], installation_id=77)
    app = github.Auth.AppAuth(4242, private_pem)

    integration = github.GithubIntegration(auth=app, base_url=gh.url)
    assert integration.get_repo_installation("octo", "shop").id == 77
    api = github.Github(base_url=gh.url, auth=app.get_installation_auth(77), **FAST)
    api.get_repo(REPO).get_issue(1).create_comment("from the app")

    assert gh.comments(REPO, 1)[-1].user.login == "ccs[bot]"
    forged = jwt.encode({"iss": "4242", "iat": int(time.time()), "exp": int(time.time()) + 60},
                        rsa.generate_private_key(public_exponent=65537, key_size=2048),
                        algorithm="RS256")
    assert call(gh, "POST", "/app/installations/77/access_tokens", token=forged)[0] == 401


def test_auth_is_required_and_tokens_expire(gh: FakeGitHub) -> None:
    status, _, body = call(gh, "GET", f"/repos/{REPO}", token=None)
    assert (status, body["message"]) == (401, "Requires authentication")
    assert call(gh, "GET", f"/repos/{REPO}", token="wrong")[0] == 401
    short = gh.add_token(ttl=-1)
    assert call(gh, "GET", f"/repos/{REPO}", token=short)[0] == 401
    status, _, body = call(gh, "GET", "/no/such/route")
    assert status == 404 and body["message"] == "Not Found" and "documentation_url" in body


def test_fault_injection_then_success(gh: FakeGitHub) -> None:
    gh.fail_next("GET", f"/repos/{REPO}", 502)
    gh.fail_secondary_rate_limit("POST", "/repos/*/issues/*/comments")

    assert call(gh, "GET", f"/repos/{REPO}")[0] == 502
    assert call(gh, "GET", f"/repos/{REPO}")[0] == 200
    status, headers, body = call(gh, "POST", f"/repos/{REPO}/issues/1/comments", {"body": "x"})
    assert (status, headers["Retry-After"]) == (403, "1")
    assert "secondary rate limit" in body["message"]
    assert call(gh, "POST", f"/repos/{REPO}/issues/1/comments", {"body": "x"})[0] == 201
    assert [c.status for c in gh.calls_to("GET", f"/repos/{REPO}")] == [502, 200]


def test_schema_violations_are_collected(gh: FakeGitHub) -> None:
    call(gh, "POST", f"/repos/{REPO}/git/refs", {"ref": "refs/heads/x"})

    assert any("'sha' is a required property" in e for e in gh.schema_errors)
    gh.schema_errors.clear()


def test_oidc_tokens_verify_against_the_jwks(gh: FakeGitHub) -> None:
    token = gh.oidc_token(REPO, 123, audience="https://ccs.test")
    key = jwt.PyJWKClient(gh.oidc_jwks_url).get_signing_key_from_jwt(token)

    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="https://ccs.test",
                        issuer=gh.oidc.issuer)
    assert (claims["repository"], claims["run_id"]) == (REPO, "123")


class WebhookReceiver:
    """A loopback HTTP server that keeps the webhooks it receives."""

    def __init__(self) -> None:
        """Start serving on a free port."""
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/github"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @Request.application
    def app(self, request: Request) -> Response:
        """Keep the delivery."""
        self.received.append((dict(request.headers), request.get_data()))
        return Response("", status=202)

    def events(self) -> list[str]:
        """Return the received event names, in order."""
        return [headers["X-Github-Event"] for headers, _ in self.received]


def test_dispatch_runs_jobs_and_sends_signed_webhooks(tmp_path: Path) -> None:
    receiver = WebhookReceiver()
    seen: list[tuple[int, str]] = []

    def job_runner(run: WorkflowRun, entry: dict[str, Any], inputs: dict[str, str]) -> str:
        seen.append((run.id, entry["component"]))
        return "failure" if entry["component"] == "hasher" else "success"

    with FakeGitHub.start(tmp_path, job_runner=job_runner, webhook_url=receiver.url) as gh:
        gh.create_repository(REPO)
        gh.add_token("tkn")
        matrix = {"include": [{"child": "1", "component": "repo"},
                              {"child": "2", "component": "hasher"}]}
        status, _, details = call(gh, "POST", f"/repos/{REPO}/actions/workflows/ccs.yml/"
                                  "dispatches", {"ref": "main", "return_run_details": True,
                                                 "inputs": {"session": "s9",
                                                            "matrix": json.dumps(matrix)}})
        assert status == 200
        run = gh.wait_for(lambda: next((r for r in gh.runs(REPO) if r.status == "completed"),
                                       None))
        gh.wait_for(lambda: "workflow_run" in receiver.events())

        assert run.conclusion == "failure" and sorted(c for _, c in seen) == ["hasher", "repo"]
        assert receiver.events() == ["workflow_job", "workflow_job", "workflow_run"]
        for headers, body in receiver.received:
            expected = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert headers["X-Hub-Signature-256"] == f"sha256={expected}"
            assert headers["X-Github-Delivery"]
        final = json.loads(receiver.received[-1][1])
        assert final["workflow_run"]["id"] == details["workflow_run_id"]
        assert final["workflow_run"]["display_title"] == "ccs s9"
        assert final["repository"]["full_name"] == REPO
        assert gh.schema_errors == []
    receiver.server.shutdown()


def test_comment_payload_is_delivered_like_github(gh: FakeGitHub) -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    gh.webhook_url = lambda headers, body: received.append((headers, body)) or 200

    status = gh.send_webhook("issue_comment",
                             gh.comment_payload(REPO, 1, "/ccs implement accounts"))
    payload = json.loads(received[0][1])
    assert status == 200 and payload["comment"]["body"] == "/ccs implement accounts"
    assert (payload["sender"]["login"], payload["issue"]["number"]) == ("alice", 1)
    assert payload["repository"]["full_name"] == REPO
    label = gh.label_payload(REPO, 1, "ccs:accounts")
    assert label["label"]["name"] == "ccs:accounts" and label["action"] == "labeled"


def test_manual_jobs_finish_and_cancel(gh: FakeGitHub) -> None:
    path = f"/repos/{REPO}/actions/workflows/ccs.yml/dispatches"
    call(gh, "POST", path, {"ref": "main", "inputs": {"session": "a"}})
    call(gh, "POST", path, {"ref": "main", "inputs": {"session": "b"}})
    first, second = gh.runs(REPO)

    assert call(gh, "POST", f"/repos/{REPO}/actions/runs/{second.id}/cancel")[0] == 202
    assert gh.finish_jobs("success") == 1
    assert (first.conclusion, second.conclusion) == ("success", "cancelled")
    assert call(gh, "POST", f"/repos/{REPO}/actions/runs/{first.id}/cancel")[0] == 409
    assert [d.event for d in gh.deliveries] == ["workflow_job", "workflow_run"] * 2


def test_default_runner_gives_the_job_a_runner_environment(gh: FakeGitHub,
                                                         tmp_path: Path) -> None:
    entry = {"child": "7", "component": "repo"}
    inputs = {"session": "s", "matrix": json.dumps({"include": [entry]}),
              "callback": "http://127.0.0.1:1/"}
    call(gh, "POST", f"/repos/{REPO}/actions/workflows/ccs.yml/dispatches",
         {"ref": "main", "inputs": inputs})
    run = gh.runs(REPO)[0]

    env = ActionJobRunner(gh).environment(run, run.jobs[0].entry, run.inputs, tmp_path)
    assert json.loads(env["CCS_JOB_ENTRY"]) == entry
    assert (env["CCS_JOB_REPO_URL"], env["GITHUB_RUN_ID"]) == (gh.clone_url(REPO), str(run.id))
    request = urllib.request.Request(
        env["ACTIONS_ID_TOKEN_REQUEST_URL"] + "&audience=http%3A%2F%2Fccs.test",
        headers={"Authorization": f"bearer {env['ACTIONS_ID_TOKEN_REQUEST_TOKEN']}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        token = json.loads(response.read())["value"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["aud"], claims["run_id"]) == ("http://ccs.test", str(run.id))
    assert call(gh, "GET", f"/repos/{REPO}", token=env["CCS_JOB_TOKEN"])[0] == 200


def test_default_runner_runs_the_real_action(tmp_path: Path) -> None:
    receiver = WebhookReceiver()  # Stands in for the service's result callback.
    coder = ("import pathlib\n"
             "pathlib.Path('src').mkdir(exist_ok=True)\n"
             "pathlib.Path('src/hasher.py').write_text('ROUNDS = 3\\n')\n")
    files = {"tools/coder.py": coder, "docs/hasher.md": "design",
             "tests/test_hasher.py": "def test_rounds():\n    from src.hasher import ROUNDS\n"
                                     "    assert ROUNDS == 3\n"}
    entry = {"child": "c1", "component": "hasher", "context": "accounts",
             "child_branch": "ccs-accounts-1-hasher", "design": "docs/hasher.md",
             "implementation": "src/hasher.py", "test": "tests/test_hasher.py", "allow": []}
    python = sys.executable
    config = {"setup": None, "verify": None, "attempts": 1,
              "coder": {"command": [python, "tools/coder.py"], "timeout": 60},
              "test": {"command": [python, "-m", "pytest", "-q", "{test}",
                                   "--junitxml={junit}"], "timeout": 60}}
    callback = receiver.url.removesuffix("/webhooks/github")
    with FakeGitHub.start(tmp_path) as gh:
        gh.create_repository(REPO, files=files)
        gh.add_token(TOKEN)
        gh.commit_files(REPO, "ccs/accounts-1", {"notes.txt": "session"})
        inputs = {"session": "s1", "branch": "ccs/accounts-1", "callback": callback,
                  "mode": "component", "config": json.dumps(config),
                  "matrix": json.dumps({"include": [entry]})}
        status, _, details = call(gh, "POST", f"/repos/{REPO}/actions/workflows/ccs.yml/"
                                  "dispatches", {"ref": "main", "inputs": inputs,
                                                 "return_run_details": True})
        run = gh.wait_for(lambda: next((r for r in gh.runs(REPO) if r.status == "completed"),
                                       None), timeout=120)

        assert (status, run.conclusion) == (200, "success"), run.jobs[0].log
        # The job also posts its attempt boundaries (coder, tests) on the way; one result.
        received = [(headers, json.loads(body)) for headers, body in receiver.received]
        assert [b["phase"] for _, b in received if "phase" in b] == ["coder", "tests"]
        ((headers, result),) = [(h, b) for h, b in received if "phase" not in b]
        assert (result["status"], result["run_id"]) == ("succeeded", details["workflow_run_id"])
        # The job pushed nothing (its token reads only): the commit is in the result's bundle.
        assert gh.branch_sha(REPO, entry["child_branch"]) is None
        bundle = tmp_path / "child.bundle"
        bundle.write_bytes(base64.b64decode(result["bundle"]))
        heads = subprocess.run(["git", "bundle", "list-heads", str(bundle)], check=True,
                               capture_output=True, text=True).stdout.split()
        assert heads == [result["commit"], f"refs/heads/{entry['child_branch']}"]
        id_token = headers["Authorization"].removeprefix("Bearer ")
        key = jwt.PyJWKClient(gh.oidc_jwks_url).get_signing_key_from_jwt(id_token)
        claims = jwt.decode(id_token, key.key, algorithms=["RS256"], audience=callback)
        assert claims["run_id"] == str(run.id) and claims["repository"] == REPO
    receiver.server.shutdown()
