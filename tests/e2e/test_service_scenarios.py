"""Whole sessions against a real `ccs serve` process and the test GitHub (issue 3).

One service and one test GitHub serve the module; each scenario works in a repository of
its own, so the recorded calls of one never count in another. Every assertion reads the
test GitHub's recorded state or the service's API, never log text.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.callback_server import bookshop_files
from tests.fakes.github import FakeGitHub
from tests.fakes.github_runner import ActionJobRunner
from tests.fakes.github_state import WorkflowRun
from tests.fakes.github_webhooks import signature
from tests.fakes.service_process import ServiceProcess, service_env, wait_until

pytestmark = pytest.mark.slow

COMPONENTS = ("isbn", "money", "inventory", "pricing")
ALWAYS_FAIL = "<!-- ccs-example: always-fail -->"
PRICING_DESIGN = "docs/design/catalog/pricing.md"
SESSION_KEYS = {"id", "repository", "context", "status", "branch", "base_sha", "progress",
                "children", "interactions", "pull_request_url", "message"}
CHILD_KEYS = {"id", "component", "status", "attempts", "commit", "tests", "run_url", "message"}
PROGRESS_KEYS = {"total", "succeeded", "failed", "running", "pending"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeGitHub,
                                                                      ServiceProcess]]:
    """Start the test GitHub and one `ccs serve` (web + in-process worker) aimed at it."""
    root = tmp_path_factory.mktemp("service-e2e")
    home = root / "home"
    home.mkdir()
    identity = {"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_AUTHOR_NAME": "ccs", "GIT_AUTHOR_EMAIL": "ccs@example.invalid",
                "GIT_COMMITTER_NAME": "ccs", "GIT_COMMITTER_EMAIL": "ccs@example.invalid"}
    with FakeGitHub.start(root) as gh:
        service = ServiceProcess.start(root, {**service_env(gh, root), **identity})
        gh.webhook_url = service.webhook_url
        try:
            yield gh, service
        finally:
            service.stop()


@pytest.fixture
def gh(world: tuple[FakeGitHub, ServiceProcess]) -> FakeGitHub:
    return world[0]


@pytest.fixture
def ccs(world: tuple[FakeGitHub, ServiceProcess]) -> Iterator[ServiceProcess]:
    """The running service; restarted if a scenario left it down."""
    service = world[1]
    if not service.alive():
        service.restart()
    yield service


def new_repo(gh: FakeGitHub, files: dict[str, str] | None = None) -> str:
    """Create a bookshop repository of its own for one scenario; alice may write."""
    name = f"books/shop-{uuid.uuid4().hex[:8]}"
    gh.create_repository(name, files=files or bookshop_files())
    gh.add_user("alice", permission="write", repo=name)
    return name


def comment(gh: FakeGitHub, repo: str, issue: int, body: str, user: str = "alice") -> int:
    """Post a comment on the issue as `user` and deliver its signed webhook."""
    return gh.send_webhook("issue_comment", gh.comment_payload(repo, issue, body, user=user))


def dispatches(gh: FakeGitHub, repo: str) -> list[Any]:
    """Return the workflow_dispatch calls ccs made for `repo`."""
    return gh.calls_to("POST", f"/repos/{repo}/actions/workflows/*/dispatches")


def matrix(call: Any) -> list[dict[str, Any]]:
    """Return the matrix entries of a dispatch call."""
    return json.loads(call.json_body["inputs"]["matrix"])["include"]


def bot_comments(gh: FakeGitHub, repo: str, issue: int) -> list[Any]:
    """Return the comments ccs wrote on the issue."""
    return [c for c in gh.comments(repo, issue) if c.user.login == "ccs-bot"]


def assert_pull_request(gh: FakeGitHub, repo: str, session: dict[str, Any]) -> None:
    """One draft pull request from the session branch, its body listing every component."""
    (pull,) = gh.pull_requests(repo)
    assert pull.draft and pull.head == session["branch"] and pull.base == "main"
    assert "| component | attempts | tests |" in pull.body
    for component in COMPONENTS:
        assert f"| {component} |" in pull.body
    assert session["pull_request_url"].endswith(f"/pull/{pull.number}")
    assert len(gh.calls_to("POST", f"/repos/{repo}/pulls")) == 1


def assert_session_shape(session: dict[str, Any]) -> None:
    """The DESIGN §5 session JSON: every contract field, with the contract's types."""
    assert set(session) >= SESSION_KEYS
    assert set(session["progress"]) == PROGRESS_KEYS
    assert isinstance(session["interactions"], list)
    for child in session["children"]:
        assert set(child) >= CHILD_KEYS
        assert set(child["tests"]) >= {"passed", "failed", "errors", "skipped"}
        assert isinstance(child["attempts"], int)


def activity(gh: FakeGitHub) -> Any:
    """What moves while ccs works: the calls the test GitHub saw (waits follow it)."""
    return lambda: len(gh.calls)


def run_to_completion(gh: FakeGitHub, ccs: ServiceProcess, repo: str,
                      timeout: float = 60) -> dict[str, Any]:
    """Wait for the repository's session to rest; return it."""
    session = ccs.wait_for_session(repo, progress=activity(gh))
    return ccs.wait_for_status(session["id"], timeout=timeout)


# 1-3: the three ways to start a session ------------------------------------------------


def test_comment_starts_a_session_that_opens_a_pull_request(gh: FakeGitHub,
                                                            ccs: ServiceProcess) -> None:
    repo = new_repo(gh)
    issue = gh.create_issue(repo, title="Implement the catalog")

    assert comment(gh, repo, issue.number, "/ccs implement catalog") == 202
    session = run_to_completion(gh, ccs, repo)

    assert session["status"] == "complete", session["message"]
    assert_session_shape(session)
    assert session["progress"] == {"total": 4, "succeeded": 4, "failed": 0, "running": 0,
                                   "pending": 0}
    assert sorted(c["component"] for c in session["children"]) == sorted(COMPONENTS)
    assert all(c["status"] == "succeeded" and c["commit"] for c in session["children"])
    (command,) = [c for c in gh.comments(repo, issue.number) if c.user.login == "alice"]
    assert [r.content for r in command.reactions] == ["eyes"]
    (tracking,) = bot_comments(gh, repo, issue.number)
    edits = gh.calls_to("PATCH", f"/repos/{repo}/issues/comments/{tracking.id}")
    assert edits, "the tracking comment is edited as the session moves"
    for component in COMPONENTS:
        assert component in tracking.body
    assert f"Pull request: {session['pull_request_url']}" in tracking.body
    assert_pull_request(gh, repo, session)
    assert gh.branch_sha(repo, session["branch"])
    assert gh.schema_errors == []


def test_label_starts_a_session_that_opens_a_pull_request(gh: FakeGitHub,
                                                          ccs: ServiceProcess) -> None:
    repo = new_repo(gh)
    issue = gh.create_issue(repo, title="Catalog please")

    assert gh.send_webhook("issues", gh.label_payload(repo, issue.number, "ccs:catalog")) == 202
    session = run_to_completion(gh, ccs, repo)

    assert session["status"] == "complete", session["message"]
    assert_pull_request(gh, repo, session)
    assert len(bot_comments(gh, repo, issue.number)) == 1


def test_api_starts_a_session_that_opens_a_pull_request(gh: FakeGitHub,
                                                        ccs: ServiceProcess) -> None:
    repo = new_repo(gh)

    status, created = ccs.request("POST", "/api/v1/sessions",
                                  {"repository": repo, "context": "catalog"})
    assert status == 201, created
    assert_session_shape(created)
    session = ccs.wait_for_status(created["id"])

    assert session["status"] == "complete", session["message"]
    assert_pull_request(gh, repo, session)


# 4: the validation loop ----------------------------------------------------------------


def test_failing_component_needs_attention_and_retry_reruns_only_it(
        gh: FakeGitHub, ccs: ServiceProcess) -> None:
    repo = new_repo(gh)
    design = gh.read_file(repo, "main", PRICING_DESIGN)
    gh.commit_files(repo, "main", {PRICING_DESIGN: design + f"\n{ALWAYS_FAIL}\n"},
                    "Keep pricing failing")
    issue = gh.create_issue(repo)

    comment(gh, repo, issue.number, "/ccs implement catalog")
    session = run_to_completion(gh, ccs, repo)

    assert session["status"] == "needs_attention", session
    # The session rests a moment before the reporter's last edit lands: wait for that event.
    gh.wait_for(lambda: "/ccs retry" in bot_comments(gh, repo, issue.number)[0].body,
                timeout=120)
    (tracking,) = bot_comments(gh, repo, issue.number)
    assert "pricing" in tracking.body and "/ccs retry" in tracking.body
    assert gh.pull_requests(repo) == []

    gh.commit_files(repo, "main", {PRICING_DESIGN: design}, "Fix the pricing design")
    comment(gh, repo, issue.number, "/ccs retry")
    session = ccs.wait_for_status(session["id"], ("complete",), timeout=60)

    assert_pull_request(gh, repo, session)
    first, second = [c for c in dispatches(gh, repo)
                     if c.json_body["inputs"].get("mode", "component") == "component"]
    assert len(matrix(first)) == 4
    assert [entry["component"] for entry in matrix(second)] == ["pricing"]
    assert len(bot_comments(gh, repo, issue.number)) == 1


# 5-7: who may start what ---------------------------------------------------------------


def test_commenter_without_write_access_is_refused(gh: FakeGitHub, ccs: ServiceProcess) -> None:
    repo = new_repo(gh)
    gh.add_user("mallory", permission="read", repo=repo)
    issue = gh.create_issue(repo)

    assert comment(gh, repo, issue.number, "/ccs implement catalog", user="mallory") == 202
    (refusal,) = wait_until(lambda: bot_comments(gh, repo, issue.number), 20, "no refusal",
                            ccs, progress=activity(gh))

    assert "@mallory" in refusal.body and "write access" in refusal.body
    # The refusal is the handler's last word: no session comes after it.
    assert ccs.sessions(repo) == []
    assert dispatches(gh, repo) == []
    assert len(bot_comments(gh, repo, issue.number)) == 1


def test_redelivered_webhook_starts_one_session(gh: FakeGitHub, ccs: ServiceProcess) -> None:
    repo = new_repo(gh)
    issue = gh.create_issue(repo)
    body = json.dumps(gh.comment_payload(repo, issue.number, "/ccs implement catalog")).encode()
    headers = {"X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": str(uuid.uuid4()),
               "X-Hub-Signature-256": signature(gh.webhook_secret, body)}

    first = ccs.request("POST", "/webhooks/github", body, auth=False, headers=headers)
    # Redelivered at once: the first may not have taken effect yet, so this one is queued
    # too (DESIGN §8); either way the delivery has one effect.
    again = ccs.request("POST", "/webhooks/github", body, auth=False, headers=headers)
    session = run_to_completion(gh, ccs, repo)
    # The delivery is marked done when its handler returns, which may be a moment after
    # the session it started completes; until then a redelivery is re-driven (harmless).
    gh.wait_for(lambda: ccs.request("POST", "/webhooks/github", body, auth=False,
                                    headers=headers) == (200, {"status": "duplicate"}),
                timeout=120, interval=0.5)

    assert first[0] == 202 and again in ((202, {"status": "queued"}),
                                         (200, {"status": "duplicate"}))
    assert session["status"] == "complete"
    assert len(ccs.sessions(repo)) == 1
    assert len([c for c in dispatches(gh, repo)
                if c.json_body["inputs"].get("mode") != "verify"]) == 1


def test_bad_signature_is_refused_and_nothing_recorded(gh: FakeGitHub,
                                                        ccs: ServiceProcess) -> None:
    repo = new_repo(gh)
    issue = gh.create_issue(repo)
    body = json.dumps(gh.comment_payload(repo, issue.number, "/ccs implement catalog")).encode()
    calls_before = len(gh.calls)

    for header in ("sha256=" + "0" * 64, signature("not-the-secret", body), None):
        headers = {"X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": str(uuid.uuid4())}
        if header:
            headers["X-Hub-Signature-256"] = header
        status, _ = ccs.request("POST", "/webhooks/github", body, auth=False, headers=headers)
        assert status == 401  # answered before anything is stored or queued

    assert ccs.sessions(repo) == []
    assert [c for c in gh.calls[calls_before:] if repo in c.path] == []


# 8-9: callbacks ------------------------------------------------------------------------


def _completed_session(gh: FakeGitHub, ccs: ServiceProcess) -> tuple[str, dict[str, Any]]:
    repo = new_repo(gh)
    status, created = ccs.request("POST", "/api/v1/sessions",
                                  {"repository": repo, "context": "catalog"})
    assert status == 201, created
    return repo, ccs.wait_for_status(created["id"])


def _run_of(gh: FakeGitHub, repo: str, child_id: str) -> WorkflowRun:
    return next(run for run in gh.runs(repo)
                if any(job.entry.get("child") == child_id for job in run.jobs))


def _result_body(child: dict[str, Any], run: WorkflowRun) -> dict[str, Any]:
    """Rebuild the body the child's job posted (what a replaying attacker would hold)."""
    return {"status": "succeeded", "commit": child["commit"],
            "branch": next(job.entry["child_branch"] for job in run.jobs
                           if job.entry.get("child") == child["id"]),
            "attempts": child["attempts"], "tests": child["tests"], "changed_files": [],
            "message": "replayed", "run_id": run.id}


def test_duplicate_and_late_callbacks_get_409_and_one_finalize(
        gh: FakeGitHub, ccs: ServiceProcess) -> None:
    repo, session = _completed_session(gh, ccs)
    assert session["status"] == "complete"
    child = session["children"][0]
    run = _run_of(gh, repo, child["id"])
    body = _result_body(child, run)

    answers = []
    for _ in range(2):
        token = gh.oidc_token(repo, run.id, ccs.url)
        answers.append(ccs.request("POST", f"/api/v1/children/{child['id']}/result", body,
                                   auth=token)[0])
    after = ccs.session(session["id"])  # a 409 is answered before anything is queued

    assert answers == [409, 409]
    assert after["status"] == "complete" and after["children"] == session["children"]
    steps = [i["step"] for i in after["interactions"]]
    assert steps.count("validate") == 1 and steps.count("complete") == 1
    assert len(gh.calls_to("POST", f"/repos/{repo}/pulls")) == 1


def test_forged_callbacks_change_nothing(gh: FakeGitHub, ccs: ServiceProcess) -> None:
    repo = new_repo(gh)
    gate = threading.Event()
    gh.job_runner = GatedRunner(ActionJobRunner(gh), gate)
    try:
        status, created = ccs.request("POST", "/api/v1/sessions",
                                      {"repository": repo, "context": "catalog"})
        assert status == 201
        wait_until(lambda: gh.runs(repo) and all(
            c["status"] == "dispatched" for c in ccs.session(created["id"])["children"]),
            20, "no dispatch", ccs, progress=activity(gh))
        child = ccs.session(created["id"])["children"][0]
        run = _run_of(gh, repo, child["id"])
        body = {"status": "succeeded", "commit": "0" * 40, "branch": "ccs-forged",
                "attempts": 1, "tests": {"passed": 1, "failed": 0, "errors": 0,
                                         "skipped": 0},
                "changed_files": [], "message": "forged", "run_id": run.id}
        other = new_repo(gh)
        forged = {
            "another repository": (gh.oidc_token(other, run.id, ccs.url), 403),
            "another run": (gh.oidc_token(repo, run.id + 1000, ccs.url), 403),
            "expired": (gh.oidc_token(repo, run.id, ccs.url, exp=int(time.time()) - 600,
                                      iat=int(time.time()) - 900,
                                      nbf=int(time.time()) - 900), 401),
            "wrong audience": (gh.oidc_token(repo, run.id, "https://elsewhere.example"), 401),
            "no token": (None, 401),
        }
        answers = {name: ccs.request("POST", f"/api/v1/children/{child['id']}/result", body,
                                     auth=token or False)[0]
                   for name, (token, _) in forged.items()}
        assert answers == {name: expected for name, (_, expected) in forged.items()}
        assert ccs.session(created["id"])["children"][0] == child
    finally:
        gate.set()
        gh.job_runner = ActionJobRunner(gh)
    session = ccs.wait_for_status(created["id"])
    assert session["status"] == "complete", session["message"]


class GatedRunner:
    """A job runner that holds every job until `gate` is set, then runs the real action."""

    def __init__(self, inner: Any, gate: threading.Event) -> None:
        self.inner, self.gate = inner, gate

    def __call__(self, run: WorkflowRun, entry: dict[str, Any], inputs: dict[str, str]) -> str:
        self.gate.wait(120)
        return self.inner(run, entry, inputs)


# 10-11: GitHub trouble and a crash -----------------------------------------------------


def test_github_errors_are_retried_and_the_session_completes(
        gh: FakeGitHub, ccs: ServiceProcess) -> None:
    repo = new_repo(gh)
    issue = gh.create_issue(repo)
    gh.fail_next("POST", f"/repos/{repo}/issues/{issue.number}/comments", 502)
    gh.fail_secondary_rate_limit("POST", f"/repos/{repo}/git/refs", retry_after=1)
    gh.fail_next("POST", f"/repos/{repo}/actions/workflows/*/dispatches", 502)

    comment(gh, repo, issue.number, "/ccs implement catalog")
    session = run_to_completion(gh, ccs, repo)

    assert session["status"] == "complete", session["message"]
    statuses = {path: [c.status for c in gh.calls_to("POST", path)] for path in (
        f"/repos/{repo}/issues/{issue.number}/comments", f"/repos/{repo}/git/refs")}
    assert statuses[f"/repos/{repo}/issues/{issue.number}/comments"][:2] == [502, 201]
    assert statuses[f"/repos/{repo}/git/refs"][:2] == [403, 201]
    assert len(bot_comments(gh, repo, issue.number)) == 1
    assert_pull_request(gh, repo, session)


def test_service_killed_mid_session_completes_after_restart(
        gh: FakeGitHub, ccs: ServiceProcess) -> None:
    repo = new_repo(gh)
    issue = gh.create_issue(repo)
    gate = threading.Event()
    gh.job_runner = GatedRunner(ActionJobRunner(gh), gate)
    try:
        comment(gh, repo, issue.number, "/ccs implement catalog")
        created = ccs.wait_for_session(repo, progress=activity(gh))
        wait_until(lambda: dispatches(gh, repo), 20, "no dispatch", ccs,
                   progress=activity(gh))
        ccs.kill()
        ccs.restart()
    finally:
        gate.set()
        gh.job_runner = ActionJobRunner(gh)
    session = ccs.wait_for_status(created["id"], timeout=90)

    assert session["status"] == "complete", session["message"]
    refs = [c for c in gh.calls_to("POST", f"/repos/{repo}/git/refs")
            if c.json_body["ref"] == f"refs/heads/{session['branch']}" and c.status == 201]
    assert len(refs) == 1
    modes = [c.json_body["inputs"].get("mode", "component") for c in dispatches(gh, repo)]
    assert modes == ["component", "verify"]
    assert len(bot_comments(gh, repo, issue.number)) == 1
    assert len(gh.calls_to("POST", f"/repos/{repo}/issues/{issue.number}/comments")) == 1
    assert_pull_request(gh, repo, session)

