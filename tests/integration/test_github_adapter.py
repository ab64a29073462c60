"""The GitHub adapters against the test GitHub: real HTTP, real bare repositories."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import update

from service.adapters.db.engine import make_engine, upgrade
from service.adapters.db.models import DispatchRow, utcnow
from service.adapters.db.store import Store
from service.adapters.git_repo import GitError
from service.adapters.github.client import ClientOptions, GitHubError
from service.adapters.github.dispatch_log import PLANNED, SENT, DispatchLog
from service.adapters.github.executor import SEND_LEASE
from service.bootstrap import GitHubRuntime, Services
from service.config import Config, Secret
from service.domain.commands import CancelSession, RecordChildResult, StartSession
from service.domain.spend import Usage
from service.domain.states import ChildStatus
from service.domain.wire import parse_result
from service.orchestrator.spawn import spawn
from service.worker.tasks import reconcile
from tests.fakes.github import FakeGitHub

REPO = "octo/shop"
TOKEN = "ghp_test_token"
FAST = ClientOptions(backoff=0.01, secondary_rate_wait=1, seconds_between_requests=None,
                     seconds_between_writes=None, run_lookup_tries=3, run_lookup_delay=0.05)


def manifest(components: list[str], verify: bool = False, budget: str | None = None) -> str:
    """Return a manifest with one context `shop` of the given components."""
    lines = ["version: 1", "paths:", "  design: docs/{context}/{component}.md",
             "  implementation: src/{context}/{component}.py",
             "  test: tests/{context}/test_{component}.py",
             "coder: {command: [python, coder.py], attempts: 2}",
             "test: {command: [python, -m, pytest, '{test}']}"]
    if verify:
        lines.append("verify: {command: [python, -m, pytest]}")
    if budget:
        lines.append(f"budget: {budget}")
    lines += ["contexts:", "  shop:", "    components:"]
    lines += [f"      - name: {name}" for name in components]
    return "\n".join(lines) + "\n"


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[FakeGitHub]:
    """Serve a test GitHub whose jobs never run by themselves (the tests finish them)."""
    with FakeGitHub.start(tmp_path, job_runner=None) as fake:
        fake.create_repository(REPO, files={".github/ccs.yml": manifest(["cart", "till"]),
                                            "README.md": "shop\n"})
        fake.add_token(TOKEN)
        fake.create_issue(REPO, title="Build the shop")
        yield fake
        assert fake.schema_errors == []


@pytest.fixture
def store(tmp_path: Path) -> Store:
    url = f"sqlite:///{tmp_path / 'ccs.db'}"
    engine = make_engine(url)
    upgrade(url, engine)
    return Store(engine)


def token_runtime(gh: FakeGitHub, store: Store, tmp_path: Path) -> GitHubRuntime:
    config = Config(github_api_url=gh.url, github_token=Secret(TOKEN),
                    public_url="https://ccs.test", workspace_dir=tmp_path / "workspace")
    return GitHubRuntime(config, store, options=FAST)


@pytest.fixture
def runtime(gh: FakeGitHub, store: Store, tmp_path: Path) -> GitHubRuntime:
    return token_runtime(gh, store, tmp_path)


def dispatches(gh: FakeGitHub) -> list:
    return gh.calls_to("POST", f"/repos/{REPO}/actions/workflows/ccs.yml/dispatches")


def start(runtime: GitHubRuntime, issue: int | None = None):
    return runtime.bus(REPO).handle(StartSession(repository=REPO, context="shop", base="main",
                                                 issue=issue, source="comment"))


# Auth and etiquette -----------------------------------------------------------------


def test_token_client_reads_the_repository_and_permissions(gh: FakeGitHub,
                                                           runtime: GitHubRuntime) -> None:
    gh.add_user("alice", permission="maintain", repo=REPO)
    repo = runtime.github(REPO)

    assert repo.default_branch() == "main"
    assert repo.permission("alice") == "maintain"
    gh.add_user("bob")
    assert repo.permission("bob") == "read"
    assert repo.permission("ghost") == "none"
    assert repo.read_file("main", "README.md") == "shop\n"
    assert repo.read_file("main", "missing.txt") is None
    assert runtime.github(REPO) is repo


def test_app_auth_finds_the_installation_and_refreshes_its_token(tmp_path: Path,
                                                                 store: Store) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    # Tokens live 21 s; PyGithub renews them 20 s before they expire.
    with FakeGitHub.start(tmp_path, job_runner=None, token_ttl=21) as fake:
        fake.create_repository(REPO, files={"README.md": "x"})
        fake.register_app(4242, public_pem)
        fake.add_installation(4242, "octo", [REPO], installation_id=77)
        config = Config(github_api_url=fake.url, github_app_id=4242,
                        github_private_key=Secret(private_pem),
                        workspace_dir=tmp_path / "workspace")
        runtime = GitHubRuntime(config, store, options=FAST)

        repo = runtime.github(REPO)
        assert repo.permission("octo") == "admin"
        time.sleep(1.2)
        assert repo.permission("octo") == "admin"
        issue = fake.create_issue(REPO)
        repo.reply(issue.number, "hello from the app")

        assert fake.comments(REPO, issue.number)[-1].user.login == "ccs[bot]"
        assert len(fake.calls_to("GET", f"/repos/{REPO}/installation")) == 1
        assert len(fake.calls_to("POST", "/app/installations/77/access_tokens")) >= 2
        assert runtime.github(REPO, installation_id=77).client is repo.client
        assert fake.schema_errors == []


def test_502_and_secondary_rate_limit_are_retried(gh: FakeGitHub,
                                                  runtime: GitHubRuntime) -> None:
    gh.fail_next("GET", f"/repos/{REPO}", 502)
    gh.fail_secondary_rate_limit("POST", "/repos/*/issues/*/comments", retry_after=1)
    repo = runtime.github(REPO)

    assert repo.default_branch() == "main"
    began = time.monotonic()
    repo.reply(1, "after the limit")

    assert time.monotonic() - began >= 1.0
    assert [c.status for c in gh.calls_to("GET", f"/repos/{REPO}")] == [502, 200]
    assert [c.status for c in gh.calls_to("POST", f"/repos/{REPO}/issues/1/comments")] == [
        403, 201]


def test_a_reply_keyed_by_its_delivery_is_posted_once(gh: FakeGitHub,
                                                      runtime: GitHubRuntime) -> None:
    issue = gh.create_issue(REPO)
    repo = runtime.github(REPO)

    first = repo.reply(issue.number, "done", key="delivery-1")
    again = repo.reply(issue.number, "done", key="delivery-1")
    other = repo.reply(issue.number, "done", key="delivery-2")

    assert first == again != other
    assert [c.body for c in gh.comments(REPO, issue.number)] == [
        "<!-- ccs:reply:delivery-1 -->\ndone", "<!-- ccs:reply:delivery-2 -->\ndone"]


def test_a_post_is_not_resent_after_a_server_error(gh: FakeGitHub,
                                                   runtime: GitHubRuntime) -> None:
    gh.fail_next("POST", "/repos/*/issues/*/comments", 502)

    with pytest.raises(GitHubError) as failed:
        runtime.github(REPO).reply(1, "maybe posted")

    assert failed.value.status == 502 and TOKEN not in str(failed.value)
    assert len(gh.calls_to("POST", f"/repos/{REPO}/issues/1/comments")) == 1


# Host ---------------------------------------------------------------------------------


def test_session_branch_is_created_then_moved(gh: FakeGitHub, runtime: GitHubRuntime) -> None:
    session = start(runtime)
    assert gh.branch_sha(REPO, session.branch) == gh.branch_sha(REPO, "main")

    newer = gh.commit_files(REPO, "main", {"docs/fix.md": "fixed\n"})
    host = runtime.bus(REPO).ports.host
    host.set_session_branch(session, runtime.bus(REPO).ports.host.base_head("main"))
    host.set_session_branch(session, newer)

    assert gh.branch_sha(REPO, session.branch) == newer
    assert len(gh.calls_to("POST", f"/repos/{REPO}/git/refs")) == 3
    assert len(gh.calls_to("PATCH", f"/repos/{REPO}/git/refs/*")) == 1


def test_publish_fast_forwards_only_and_pull_request_is_opened_once(
        gh: FakeGitHub, runtime: GitHubRuntime) -> None:
    session = start(runtime)
    ports = runtime.bus(REPO).ports
    git, host = ports.git, ports.host
    base = session.base_sha
    tree = git.merge_tree(base, base).tree
    ahead = git.commit_tree(tree, [base], "ccs: implement shop")

    host.publish(session, ahead)
    host.publish(session, ahead)  # nothing to do the second time
    assert gh.branch_sha(REPO, session.branch) == ahead
    orphan = git.commit_tree(tree, [], "unrelated history")
    with pytest.raises(GitError):
        host.publish(session, orphan)
    assert gh.branch_sha(REPO, session.branch) == ahead

    first = host.open_pull_request(session, "Implement shop", "| component |", draft=True)
    second = host.open_pull_request(session, "Implement shop", "| component |", draft=True)

    assert first == second and first.endswith("/pull/2")
    assert len(gh.calls_to("POST", f"/repos/{REPO}/pulls")) == 1
    assert gh.pull_requests(REPO)[0].draft is True


def test_a_worker_with_a_fresh_mirror_publishes_a_commit_merged_elsewhere(
        gh: FakeGitHub, runtime: GitHubRuntime, store: Store, tmp_path: Path) -> None:
    session = start(runtime)
    git = runtime.bus(REPO).ports.git
    base = session.base_sha
    merged = git.commit_tree(git.merge_tree(base, base).tree, [base], "ccs: implement shop")
    runtime.mirror(REPO).push(merged, f"ccs-staging/{session.id}", lease=None)

    elsewhere = token_runtime(gh, store, tmp_path / "other-worker")
    assert not elsewhere.mirror(REPO).repo.commit_exists(merged)
    elsewhere.bus(REPO).ports.host.publish(session, merged)

    assert gh.branch_sha(REPO, session.branch) == merged


# Executor -----------------------------------------------------------------------------


def test_dispatch_records_the_run_and_is_sent_once(gh: FakeGitHub, runtime: GitHubRuntime,
                                                   store: Store) -> None:
    session = start(runtime)
    ports = runtime.bus(REPO).ports
    (call,) = dispatches(gh)
    inputs = call.json_body["inputs"]
    run = gh.runs(REPO)[0]

    assert call.json_body["ref"] == "main" and call.json_body["return_run_details"] is True
    assert inputs["mode"] == "component" and inputs["callback"] == "https://ccs.test"
    assert inputs["branch"] == session.branch
    assert [e["component"] for e in json.loads(inputs["matrix"])["include"]] == ["cart", "till"]
    children = store.children(session.id)
    assert {(c.status, c.run_id) for c in children} == {("dispatched", run.id)}

    config = ports.manifest(session.base_sha, session.manifest_path).job_config()
    ports.executor.dispatch(session, children, config)
    spawn(ports, session.id)
    assert len(dispatches(gh)) == 1


def test_a_chunk_planned_before_a_crash_is_looked_up_not_resent(
        gh: FakeGitHub, runtime: GitHubRuntime, store: Store) -> None:
    session = start(runtime)
    ports = runtime.bus(REPO).ports
    log = DispatchLog(store)
    (row,) = log.rows(session.id)
    log.mark(row.id, PLANNED)  # as if the process died between the POST and recording it

    config = ports.manifest(session.base_sha, session.manifest_path).job_config()
    ports.executor.resume(session, config)

    (row,) = log.rows(session.id)
    assert (row.state, row.run_id) == (SENT, gh.runs(REPO)[0].id)
    assert len(dispatches(gh)) == 1


def test_a_fresh_planned_chunk_is_never_sent_twice_and_a_stale_one_is_sent(
        gh: FakeGitHub, runtime: GitHubRuntime, store: Store) -> None:
    # Two workers resuming at once (start-up and reconcile) found the chunk the other was
    # sending still `planned` and sent it again: two runs for one chunk (fault matrix).
    session = start(runtime)
    ports = runtime.bus(REPO).ports
    log = DispatchLog(store)
    (row,) = log.rows(session.id)
    log.mark(row.id, PLANNED)
    with gh.lock:
        gh._runs.clear()  # as if its planner is still on the way to GitHub with it
    config = ports.manifest(session.base_sha, session.manifest_path).job_config()

    ports.executor.resume(session, config)
    assert len(dispatches(gh)) == 1 and log.rows(session.id)[0].state == PLANNED

    with store.unit() as db:  # the planner died long ago: its lease is over
        db.execute(update(DispatchRow).where(DispatchRow.id == row.id).values(
            created_at=utcnow() - SEND_LEASE - timedelta(seconds=1)))
    ports.executor.resume(session, config)
    assert len(dispatches(gh)) == 2 and log.rows(session.id)[0].state == SENT


def test_without_run_details_the_run_is_found_by_name(gh: FakeGitHub, runtime: GitHubRuntime,
                                                      store: Store) -> None:
    gh.dispatch_details_unsupported = 422
    session = start(runtime)

    sent = dispatches(gh)
    assert [c.status for c in sent] == [422, 204]
    assert "return_run_details" not in sent[1].json_body
    run = gh.runs(REPO)[0]
    assert {c.run_id for c in store.children(session.id)} == {run.id}


def test_300_components_take_two_dispatches(gh: FakeGitHub, runtime: GitHubRuntime,
                                            store: Store) -> None:
    names = [f"part_{n:03d}" for n in range(300)]
    gh.commit_files(REPO, "main", {".github/ccs.yml": manifest(names)})
    session = start(runtime)

    sizes = [len(json.loads(c.json_body["inputs"]["matrix"])["include"])
             for c in dispatches(gh)]
    assert sizes == [256, 44]
    runs = {c.run_id for c in store.children(session.id)}
    assert len(runs) == 2 and None not in runs

    runtime.bus(REPO).handle(CancelSession(repository=REPO, session_id=session.id))
    assert len(gh.calls_to("POST", f"/repos/{REPO}/actions/runs/*/cancel")) == 2


def test_a_failed_dispatch_fails_its_children_with_a_message(
        gh: FakeGitHub, runtime: GitHubRuntime, store: Store) -> None:
    gh.fail_next("POST", "/repos/*/actions/workflows/*/dispatches", 404, times=2)
    session = start(runtime)

    after = runtime.bus(REPO).ports.store.session(session.id)
    assert after.status == "needs_attention"
    assert all(c.status == ChildStatus.FAILED for c in store.children(session.id))
    assert "cannot dispatch the ccs.yml workflow" in after.message
    assert "/ccs retry" in after.message


# Tracking comment -------------------------------------------------------------------


def test_tracking_comment_is_created_once_and_edited(gh: FakeGitHub, runtime: GitHubRuntime,
                                                     store: Store) -> None:
    session = start(runtime, issue=1)
    reporter = runtime.bus(REPO).ports.reporter
    (comment,) = gh.comments(REPO, 1)
    assert comment.body.startswith(f"<!-- ccs:session:{session.id} -->")
    assert store.session(session.id).tracking_comment_id == comment.id

    patches = len(gh.calls_to("PATCH", "/repos/*/issues/comments/*"))
    reporter.session_changed(session.id)  # nothing changed: no call at all
    assert len(gh.calls_to("PATCH", "/repos/*/issues/comments/*")) == patches

    runtime.bus(REPO).handle(CancelSession(repository=REPO, session_id=session.id))
    assert len(gh.comments(REPO, 1)) == 1
    assert "cancelled" in gh.comments(REPO, 1)[0].body
    assert len(gh.calls_to("POST", f"/repos/{REPO}/issues/1/comments")) == 1


def test_tracking_comment_is_found_by_its_marker(gh: FakeGitHub, store: Store,
                                                 tmp_path: Path) -> None:
    first = token_runtime(gh, store, tmp_path)
    session = start(first, issue=1)
    store.update_session(session.id, tracking_comment_id=None)  # as if it was never recorded

    fresh = token_runtime(gh, store, tmp_path)  # a new process: nothing cached
    fresh.bus(REPO).ports.reporter.session_changed(session.id)

    assert len(gh.comments(REPO, 1)) == 1
    assert store.session(session.id).tracking_comment_id == gh.comments(REPO, 1)[0].id


def test_an_exhausted_rate_limit_waits_for_the_reset(gh: FakeGitHub,
                                                     runtime: GitHubRuntime) -> None:
    gh.fail_next("GET", f"/repos/{REPO}", 403, headers={
        "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 2)},
        body={"message": "API rate limit exceeded for user ID 1."})
    began = time.monotonic()

    assert runtime.github(REPO).default_branch() == "main"
    assert time.monotonic() - began >= 1.0  # PyGithub waits until the reset (+1 s)
    assert [c.status for c in gh.calls_to("GET", f"/repos/{REPO}")] == [403, 200]


def test_git_errors_never_show_the_token(gh: FakeGitHub, runtime: GitHubRuntime,
                                         tmp_path: Path) -> None:
    from service.adapters.github.mirror import Mirror

    mirror = Mirror(tmp_path / "ws", REPO, lambda: f"{gh.url}/{REPO}.git", lambda: TOKEN)

    with pytest.raises(GitError) as failed:
        mirror.fetch_branch("main")

    assert TOKEN not in str(failed.value)
    env, secrets = mirror._auth(f"{gh.url}/{REPO}.git")
    assert env["GIT_CONFIG_KEY_0"] == "http.extraheader" and TOKEN in secrets
    assert mirror._auth(gh.clone_url(REPO)) == ({"GIT_TERMINAL_PROMPT": "0"}, ())


# Reconcile -----------------------------------------------------------------------------


def test_reconcile_fails_children_whose_jobs_ended_unreported(gh: FakeGitHub, store: Store,
                                                              tmp_path: Path) -> None:
    config = Config(github_api_url=gh.url, github_token=Secret(TOKEN),
                    public_url="https://ccs.test", workspace_dir=tmp_path / "workspace",
                    reconcile_interval=1)
    runtime = GitHubRuntime(config, store, options=FAST)
    session = start(runtime)
    # The jobs die: no callback, and (no webhook URL) no workflow_job webhook either.
    assert gh.finish_jobs("failure", REPO) == 2
    time.sleep(1.1)  # the children must be quiet for one reconcile interval
    jobs_calls = len(gh.calls_to("GET", "/repos/*/actions/runs/*/jobs"))

    reconcile(Services(config, store, runtime, queue=None))

    children = store.children(session.id)
    assert [c.status for c in children] == ["failed", "failed"]
    assert all("ended (failure) without reporting" in c.message for c in children)
    assert store.session(session.id).status == "needs_attention"
    # One look per run, not one per child.
    assert len(gh.calls_to("GET", "/repos/*/actions/runs/*/jobs")) == jobs_calls + 1


def test_a_session_budget_cancels_the_actions_runs_of_the_children_still_running(
        gh: FakeGitHub, runtime: GitHubRuntime, store: Store) -> None:
    gh.commit_files(REPO, "main", {".github/ccs.yml": manifest(
        ["cart", "till"], budget="{cost_usd: 1.0}")}, "Give the shop a budget")
    session = start(runtime)
    cart, till = store.children(session.id)
    assert till.run_id is not None
    # The callback body carries the usage (DESIGN §6), as the job posts it.
    result = parse_result({"status": "failed", "attempts": 2, "tests": {"failed": 1},
                           "message": "cart: tests failed",
                           "usage": {"cost_usd": 1.5, "input_tokens": 9000,
                                     "output_tokens": 800}})
    runtime.bus(REPO).handle(RecordChildResult(cart.id, result, REPO))

    after = store.session(session.id)
    assert after.status == "needs_attention"
    assert "budget.cost_usd reached: the children spent $1.50 of $1.00" in after.message
    assert store.child(till.id).status == ChildStatus.CANCELLED
    assert gh.calls_to("POST", f"/repos/{REPO}/actions/runs/{till.run_id}/cancel")
    assert store.usage(session.id) == Usage(1.5, 9000, 800)


def test_secrets_in_a_jobs_own_message_are_never_stored_or_posted(
        gh: FakeGitHub, store: Store, tmp_path: Path) -> None:
    webhook_secret = "hook-secret-for-redaction"
    config = Config(github_api_url=gh.url, github_token=Secret(TOKEN),
                    webhook_secret=Secret(webhook_secret), public_url="https://ccs.test",
                    workspace_dir=tmp_path / "workspace")
    runtime = GitHubRuntime(config, store, options=FAST)
    session = start(runtime, issue=1)
    cart, till = store.children(session.id)
    leaked = (f"tests failed; env was GITHUB_TOKEN={TOKEN} CCS_WEBHOOK_SECRET={webhook_secret}"
              " and ghs_" + "a" * 36)
    for child in (cart, till):
        result = parse_result({"status": "failed", "attempts": 1, "message": leaked,
                               "log_url": "javascript:alert(document.cookie)"})
        runtime.bus(REPO).handle(RecordChildResult(child.id, result, REPO))

    stored = [store.child(cart.id).message, store.session(session.id).message]
    stored += [i.result for i in store.interactions(session.id)]
    posted = [c.body for c in gh.comments(REPO, 1)]
    for text in stored + posted:
        assert TOKEN not in text and webhook_secret not in text and "ghs_aaaa" not in text
    assert "***" in store.child(cart.id).message
    assert store.child(cart.id).run_url != "javascript:alert(document.cookie)"
    assert all("javascript:" not in body for body in posted)
