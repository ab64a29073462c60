"""The orchestrator as stories, on the in-memory ports and on a real repository + SQLite."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from service.domain.wire import TestCounts as Counts
from service.orchestrator.errors import BadInput, SessionBusy, UnknownSession
from service.orchestrator.initialize import initialize
from service.orchestrator.spawn import spawn
from tests.fakes.local import REPOSITORY, Project

CATALOG = {"pricing": 10, "isbn": 40, "money": 30}  # spawn order: isbn, money, pricing


BACKENDS = ["memory", pytest.param("git", marks=pytest.mark.integration)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def project(tmp_path: Path, backend: str) -> Project:
    return Project.create(tmp_path, CATALOG, backend=backend)


def file_at(project: Project, ref: str, path: str) -> str:
    return project.workspace.show(ref, path)


def test_a_session_from_start_to_complete(project: Project) -> None:
    base = project.workspace.rev_parse("main")
    session = project.start()
    assert session.status == "running"
    assert session.branch == f"ccs/catalog-{session.id}"
    assert project.branch_sha(session.branch) == base
    assert project.executor.dispatched == ["isbn", "money", "pricing"]
    assert project.executor.dispatches[0].config.attempts == 2

    assert project.executor.finish("money") == "accepted"
    assert project.executor.finish("isbn") == "accepted"
    assert project.session(session.id).status == "running"
    assert project.executor.finish("pricing") == "accepted"

    done = project.session(session.id)
    assert done.status == "complete", done.message
    assert done.message.startswith("finalized: 3 component(s) merged into")
    assert project.branch_sha(done.branch) == done.final_commit
    # One commit on top of the base holds every component's files.
    assert project.workspace.rev_parse(f"{done.final_commit}^") == base
    for name in CATALOG:
        assert "VALUE = 1" in file_at(project, done.branch, f"src/catalog/{name}.py")
    assert "isbn: 3 tests passed" in project.workspace.message(done.branch)
    assert project.steps(session.id)[-3:] == ["validate", "merge", "complete"]
    # The user's branch and checkout are untouched.
    assert project.workspace.rev_parse("main") == base
    assert project.workspace.is_clean()


def test_spawn_is_idempotent(project: Project) -> None:
    session = project.start()
    project.bus.advance(session.id)
    spawn(project.ports, session.id)
    initialize(project.ports, session.id)
    assert project.executor.dispatched == ["isbn", "money", "pricing"]
    assert len(project.executor.dispatches) == 1
    assert len(project.children(session.id)) == 3


def test_only_runs_a_subset(project: Project) -> None:
    session = project.start(components=["pricing", "isbn"])
    assert project.executor.dispatched == ["isbn", "pricing"]
    project.executor.finish_all()
    assert project.session(session.id).status == "complete"


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"context": "shop"}, "unknown_context"),
    ({"context": "Catalog"}, "invalid_name"),
    ({"context": "catalog", "components": ["nope"]}, "unknown_context"),
    ({"context": "catalog", "components": ["a;rm"]}, "invalid_name"),
    ({"context": "catalog", "base": "no-such-branch"}, "bad_base"),
    ({"context": "catalog", "manifest_path": "missing.yml"}, "no_manifest"),
])
def test_bad_requests_are_refused_before_anything_is_recorded(project: Project, kwargs,
                                                              code: str) -> None:
    with pytest.raises(BadInput) as refused:
        project.start(**kwargs)
    assert refused.value.code == code
    assert project.store.sessions(None) == []
    assert project.executor.dispatches == []


def test_a_failing_child_puts_the_session_in_needs_attention_naming_it(
        project: Project) -> None:
    session = project.start()
    project.executor.finish("isbn")
    project.executor.finish("money")
    project.executor.finish("pricing", "failed", message="pricing: tests failed after 2 attempts")
    rested = project.session(session.id)
    assert rested.status == "needs_attention"
    assert rested.message.splitlines()[0] == "1 component(s) of catalog need attention:"
    assert "- pricing: tests failed after 2 attempts" in rested.message
    assert f"ccs retry {session.id}" in rested.message
    assert project.branch_sha(rested.branch) == rested.base_sha  # nothing merged


def test_a_succeeded_job_whose_tests_failed_becomes_failed(project: Project) -> None:
    session = project.start()
    project.executor.finish("isbn", tests=Counts(passed=2, failed=1))
    project.executor.finish("money", tests=Counts())
    project.executor.finish("pricing")
    children = project.children(session.id)
    assert children["isbn"].status == "failed"
    assert children["isbn"].message == "isbn: tests did not pass (2 passed, 1 failed)."
    assert children["money"].status == "failed" and "no tests ran" in children["money"].message
    assert children["pricing"].status == "succeeded"
    assert project.session(session.id).status == "needs_attention"


def test_retry_reruns_only_what_failed_and_keeps_what_succeeded(project: Project) -> None:
    session = project.start()
    project.executor.finish("isbn")
    project.executor.finish("money", "failed", message="money: coder crashed")
    project.executor.finish("pricing")
    kept = project.children(session.id)["isbn"].commit

    retried = project.retry(session.id, REPOSITORY)
    assert retried.status == "running" and retried.round == 2
    assert project.executor.dispatched == ["isbn", "money", "pricing", "money"]
    children = project.children(session.id)
    assert children["isbn"].status == "succeeded" and children["isbn"].commit == kept
    assert children["money"].status == "dispatched" and children["money"].commit is None
    assert children["money"].message == ""

    project.executor.finish("money")
    done = project.session(session.id)
    assert done.status == "complete", done.message
    assert project.children(session.id)["isbn"].commit == kept


def test_retry_of_a_cancelled_or_timed_out_child_dispatches_it_again(project: Project) -> None:
    session = project.start()
    project.executor.finish("isbn")
    project.clock.move(timedelta(hours=1))
    assert len(project.time_out(60)) == 2
    rested = project.session(session.id)
    assert rested.status == "needs_attention"
    assert "money: no result after 60 s" in rested.message
    assert {c.status for c in project.children(session.id).values()} == {"succeeded",
                                                                         "timed_out"}
    project.retry(session.id)
    assert project.executor.dispatched[3:] == ["money", "pricing"]


def test_retry_moves_the_session_branch_to_the_base_head_and_rereads_the_manifest(
        project: Project) -> None:
    session = project.start()
    project.executor.finish("isbn")
    project.executor.finish("money")
    project.executor.finish("pricing", "failed")
    # The user fixes the design and lets pricing touch the package file, on main.
    manifest = file_at(project, "main", ".github/ccs.yml").replace(
        "name: pricing", "name: pricing\n      allow: [src/catalog/__init__.py]")
    new_base = project.commit_on_main({".github/ccs.yml": manifest,
                                       "docs/design/catalog/pricing.md": "# fixed\n"},
                                      "Fix the pricing design")

    retried = project.retry(session.id)
    assert retried.base_sha == new_base
    assert project.branch_sha(retried.branch) == new_base
    pricing = project.children(session.id)["pricing"]
    assert pricing.start_sha == new_base
    assert pricing.spec["allow"] == ["src/catalog/__init__.py"]

    project.executor.finish("pricing", files={
        "src/catalog/pricing.py": "PRICE = 1\n", "tests/catalog/test_pricing.py":
        "def test_price():\n    assert True\n", "src/catalog/__init__.py": "# package\n"})
    done = project.session(session.id)
    assert done.status == "complete", done.message
    assert project.workspace.rev_parse(f"{done.final_commit}^") == new_base
    assert file_at(project, done.branch, "docs/design/catalog/pricing.md") == "# fixed"


def test_retry_of_a_complete_session_does_nothing(project: Project) -> None:
    session = project.start()
    project.executor.finish_all()
    done = project.session(session.id)
    again = project.retry(session.id)
    assert again.status == "complete" and again.round == done.round
    assert len(project.executor.dispatches) == 1
    assert project.branch_sha(done.branch) == done.final_commit


def test_retry_of_a_running_session_is_refused(project: Project) -> None:
    session = project.start()
    with pytest.raises(SessionBusy, match="still running"):
        project.retry(session.id)
    assert len(project.executor.dispatches) == 1


def test_sessions_are_scoped_by_repository(project: Project) -> None:
    session = project.start()
    with pytest.raises(UnknownSession):
        project.retry(session.id, repository="local:/elsewhere")
    with pytest.raises(UnknownSession):
        project.cancel("0000000000", repository=REPOSITORY)
    child_id, result = project.executor.result("isbn")
    with pytest.raises(UnknownSession):
        project.record(child_id, result, repository="local:/elsewhere")
    with pytest.raises(UnknownSession):
        project.record("nope", result)


def test_a_second_result_for_a_child_is_a_duplicate(project: Project) -> None:
    session = project.start()
    child_id, result = project.executor.result("isbn")
    assert project.record(child_id, result) == "accepted"
    _, failure = project.executor.result("isbn", "failed")
    assert project.record(child_id, failure) == "duplicate"
    assert project.record(child_id, result) == "duplicate"
    assert project.children(session.id)["isbn"].status == "succeeded"
    assert project.steps(session.id).count("result") == 1


def test_scope_guard_fails_a_child_that_changes_another_components_file(
        project: Project) -> None:
    session = project.start()
    project.executor.finish("isbn", files={
        "src/catalog/isbn.py": "X = 1\n", "tests/catalog/test_isbn.py": "def test(): pass\n",
        "src/catalog/money.py": "# mine now\n", "docs/design/catalog/pricing.md": None})
    project.executor.finish("money")
    project.executor.finish("pricing")
    isbn = project.children(session.id)["isbn"]
    assert isbn.status == "failed"
    assert ("isbn: changed files outside its own: docs/design/catalog/pricing.md, "
            "src/catalog/money.py.") in isbn.message
    rested = project.session(session.id)
    assert rested.status == "needs_attention" and "isbn: changed files outside" in rested.message


def test_scope_guard_trusts_git_not_the_reported_list(project: Project) -> None:
    session = project.start()
    child_id, result = project.executor.result("isbn", files={
        "src/catalog/isbn.py": "X = 1\n", "tests/catalog/test_isbn.py": "def test(): pass\n",
        "setup.py": "# sneaky\n"})
    project.record(
        child_id, replace(result, changed_files=("src/catalog/isbn.py",)))
    project.executor.finish("money")
    project.executor.finish("pricing")
    assert "setup.py" in project.children(session.id)["isbn"].message


def test_a_commit_not_on_the_child_branch_fails_validation(project: Project) -> None:
    session = project.start()
    child_id, result = project.executor.result("isbn")
    branch = project.children(session.id)["isbn"].branch
    project.workspace.delete_branch(branch)
    project.record(child_id, result)
    project.executor.finish("money")
    project.executor.finish("pricing")
    assert "not on its child branch" in project.children(session.id)["isbn"].message


def test_a_merge_conflict_names_the_files_and_both_components(tmp_path: Path,
                                                              backend: str) -> None:
    shared = "src/catalog/__init__.py"
    project = Project.create(tmp_path, CATALOG, backend=backend,
                             allow={"isbn": [shared], "pricing": [shared]})
    session = project.start()
    project.executor.finish("isbn", files={"src/catalog/isbn.py": "I = 1\n",
                                           "tests/catalog/test_isbn.py": "def test(): pass\n",
                                           shared: "from .isbn import I\n"})
    project.executor.finish("money")
    project.executor.finish("pricing", files={"src/catalog/pricing.py": "P = 1\n",
                                              "tests/catalog/test_pricing.py": "def test(): 0\n",
                                              shared: "from .pricing import P\n"})
    rested = project.session(session.id)
    assert rested.status == "needs_attention"
    assert ("pricing: merge conflict in src/catalog/__init__.py with isbn.") in rested.message
    assert project.children(session.id)["pricing"].status == "failed"
    assert project.branch_sha(rested.branch) == rested.base_sha


def test_verify_failing_leaves_the_session_branch_where_it_was(tmp_path: Path,
                                                               backend: str) -> None:
    project = Project.create(tmp_path, CATALOG, verify=True, backend=backend)
    project.verifier.passes = False
    project.verifier.message = "2 failed in the whole suite"
    session = project.start()
    project.executor.finish_all()
    rested = project.session(session.id)
    assert rested.status == "needs_attention"
    assert "verify failed on the merged tree: 2 failed in the whole suite" in rested.message
    assert "was not moved" in rested.message
    assert project.branch_sha(rested.branch) == rested.base_sha
    assert project.verifier.commits == [rested.merged_commit]

    # The user fixes the base; a retry merges again and verifies the new tree.
    project.verifier.passes = True
    new_base = project.commit_on_main({"README.md": "fixed\n"}, "Fix the suite")
    project.retry(session.id)
    done = project.session(session.id)
    assert done.status == "complete", done.message
    assert project.executor.dispatched == ["isbn", "money", "pricing"]  # nothing re-run
    assert len(project.verifier.commits) == 2 and project.verifier.commits[1] == done.final_commit
    assert project.workspace.rev_parse(f"{done.final_commit}^") == new_base


def test_verify_passing_completes(tmp_path: Path, backend: str) -> None:
    project = Project.create(tmp_path, CATALOG, verify=True, backend=backend)
    session = project.start()
    project.executor.finish_all()
    done = project.session(session.id)
    assert done.status == "complete"
    assert project.verifier.commits == [done.final_commit]


def test_silent_children_time_out_once(project: Project) -> None:
    session = project.start()
    assert project.time_out(60) == []  # not silent yet
    project.clock.move(timedelta(minutes=5))
    timed_out = project.time_out(60)
    assert len(timed_out) == 3
    # Their jobs may still hold runners (Actions runs): each is asked to stop.
    assert sorted(project.executor.cancelled) == ["isbn", "money", "pricing"]
    assert project.time_out(60) == []
    assert project.session(session.id).status == "needs_attention"
    # A result arriving after the time-out is a duplicate; the retry is what re-runs it.
    child_id, result = project.executor.result("isbn")
    assert project.record(child_id, result) == "duplicate"


def test_cancel_stops_the_running_children(project: Project) -> None:
    session = project.start()
    project.executor.finish("isbn")
    cancelled = project.cancel(session.id, REPOSITORY)
    assert cancelled.status == "cancelled"
    assert project.executor.cancelled == ["money", "pricing"]
    assert {n: c.status for n, c in project.children(session.id).items()} == {
        "isbn": "succeeded", "money": "cancelled", "pricing": "cancelled"}
    child_id, result = project.executor.result("money")
    assert project.record(child_id, result) == "duplicate"
    assert project.cancel(session.id).status == "cancelled"  # idempotent

    project.retry(session.id)
    assert project.executor.dispatched[3:] == ["money", "pricing"]
    project.executor.finish_all()
    assert project.session(session.id).status == "complete"


def test_a_bundle_the_host_refuses_fails_its_child_with_the_reason(project: Project) -> None:
    # Neither local nor memory children ever send bundles: their hosts refuse one, and the
    # refusal reads like any validation failure (DESIGN §6a).
    session = project.start()
    child_id, result = project.executor.result("isbn")
    project.record(child_id, replace(result, bundle=b"# v2 git bundle\n"))
    project.executor.finish("money")
    project.executor.finish("pricing")
    isbn = project.children(session.id)["isbn"]
    assert isbn.status == "failed"
    assert isbn.message.startswith("isbn: the commit its job sent was refused: ")
    assert project.session(session.id).status == "needs_attention"
    assert project.store.bundle(child_id) is None  # refused once, not again at each retry


def test_a_host_failure_while_taking_a_bundle_in_keeps_it(project: Project,
                                                          monkeypatch) -> None:
    from service.orchestrator.ports import GitError

    def unreachable(*args) -> None:
        raise GitError("git push failed: the host is unreachable")

    session = project.start()
    monkeypatch.setattr(project.ports.host, "receive_bundle", unreachable)
    child_id, result = project.executor.result("isbn")
    project.record(child_id, replace(result, bundle=b"bundle bytes"))
    project.executor.finish("money")
    project.executor.finish("pricing")
    rested = project.session(session.id)
    assert rested.status == "needs_attention" and "unreachable" in rested.message
    assert project.store.bundle(child_id) == b"bundle bytes"
    assert project.children(session.id)["isbn"].status == "succeeded"
