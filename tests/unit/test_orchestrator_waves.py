"""Dependency waves as stories (DESIGN §3b), on the in-memory ports and on a real repository."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from service.orchestrator.errors import BadInput
from tests.fakes.local import Project

# author <- book <- shelf; loner needs nothing. Spawn order: shelf, book, author, loner.
SHOP = {"shelf": 40, "book": 30, "author": 20, "loner": 10}
NEEDS = {"book": ["author"], "shelf": ["book"]}
BACKENDS = ["memory", pytest.param("git", marks=pytest.mark.integration)]


@pytest.fixture(params=BACKENDS)
def project(tmp_path: Path, request: pytest.FixtureRequest) -> Project:
    return Project.create(tmp_path, SHOP, needs=NEEDS, backend=request.param)


def test_waves_run_in_order_each_from_the_work_before_it(project: Project) -> None:
    base = project.workspace.rev_parse("main")
    session = project.start()
    assert [d.components for d in project.executor.dispatches] == [["author", "loner"]]
    assert project.children(session.id)["author"].start_sha == base

    project.executor.finish("author")
    assert len(project.executor.dispatches) == 1  # loner still runs: wave 1 waits
    project.executor.finish("loner")
    assert [d.components for d in project.executor.dispatches][1:] == [["book"]]
    book_start = project.children(session.id)["book"].start_sha
    assert book_start != base
    # The book starts on top of the author's work (and the loner's: the whole wave before).
    assert "VALUE = 1" in project.workspace.show(book_start, "src/catalog/author.py")
    assert "VALUE = 1" in project.workspace.show(book_start, "src/catalog/loner.py")

    project.executor.finish("book")
    assert [d.components for d in project.executor.dispatches][2:] == [["shelf"]]
    shelf_start = project.children(session.id)["shelf"].start_sha
    assert "VALUE = 1" in project.workspace.show(shelf_start, "src/catalog/book.py")
    project.executor.finish("shelf")

    done = project.session(session.id)
    assert done.status == "complete", done.message
    for name in SHOP:
        assert "VALUE = 1" in project.workspace.show(done.branch, f"src/catalog/{name}.py")
    assert project.workspace.rev_parse(f"{done.final_commit}^") == base


def test_a_failure_cancels_exactly_what_needs_it(project: Project) -> None:
    session = project.start()
    project.executor.finish("author", "failed", message="author: 1 test failed")
    project.executor.finish("loner")
    children = project.children(session.id)
    assert {n: c.status for n, c in children.items()} == {
        "shelf": "cancelled", "book": "cancelled", "author": "failed", "loner": "succeeded"}
    assert children["book"].message.startswith("book: cancelled: it needs author")
    assert children["shelf"].message.startswith("shelf: cancelled: it needs author")
    assert project.executor.dispatched == ["author", "loner"]
    parked = project.session(session.id)
    assert parked.status == "needs_attention"
    assert "book: cancelled: it needs author" in parked.message


def test_retry_reruns_the_failed_component_then_its_dependents_only(project: Project) -> None:
    session = project.start()
    project.executor.finish("author", "failed")
    project.executor.finish("loner")
    loner = project.children(session.id)["loner"]
    new_base = project.commit_on_main({"README.md": "fixed the design\n"}, "fix design")

    project.retry(session.id)
    assert project.executor.dispatched[2:] == ["author"]
    assert project.children(session.id)["author"].start_sha == new_base
    project.executor.finish("author")
    assert project.executor.dispatched[3:] == ["book"]
    book_start = project.children(session.id)["book"].start_sha
    assert "fixed the design" in project.workspace.show(book_start, "README.md")
    project.executor.finish("book")
    project.executor.finish("shelf")

    done = project.session(session.id)
    assert done.status == "complete", done.message
    assert project.executor.dispatched == ["author", "loner", "author", "book", "shelf"]
    assert project.children(session.id)["loner"].commit == loner.commit


def test_a_component_that_breaks_a_rule_stops_its_dependents_before_they_run(
        project: Project) -> None:
    session = project.start()
    # The author's job succeeds but writes the book's file: the scope guard fails it.
    project.executor.finish("author", files={"src/catalog/author.py": "A = 1\n",
                                             "tests/catalog/test_author.py": "def t(): 0\n",
                                             "src/catalog/book.py": "B = 1\n"})
    project.executor.finish("loner")
    children = project.children(session.id)
    assert children["author"].status == "failed"
    assert "src/catalog/book.py" in children["author"].message
    assert children["book"].status == "cancelled"
    assert project.executor.dispatched == ["author", "loner"]
    assert project.session(session.id).status == "needs_attention"


def test_a_timed_out_component_cancels_its_dependents_too(project: Project) -> None:
    session = project.start()
    project.executor.finish("loner")
    project.clock.move(timedelta(minutes=5))
    assert len(project.time_out(60)) == 1  # the author, silent
    children = project.children(session.id)
    assert children["author"].status == "timed_out"
    assert {children["book"].status, children["shelf"].status} == {"cancelled"}
    assert project.session(session.id).status == "needs_attention"


def test_cancelling_the_session_cancels_the_waiting_waves(project: Project) -> None:
    session = project.start()
    project.cancel(session.id)
    statuses = {n: c.status for n, c in project.children(session.id).items()}
    assert statuses == dict.fromkeys(SHOP, "cancelled")
    project.retry(session.id)
    assert project.executor.dispatched[2:] == ["author", "loner"]  # wave by wave again


def test_only_must_name_what_a_component_needs(project: Project) -> None:
    with pytest.raises(BadInput) as refused:
        project.start(components=["shelf", "book"])
    assert "book needs author" in str(refused.value)
    assert "--only shelf,book,author" in str(refused.value)
    session = project.start(components=["book", "author"])
    assert project.executor.dispatched == ["author"]
    assert set(project.children(session.id)) == {"book", "author"}


def test_only_accepts_a_need_already_implemented_on_the_base(project: Project) -> None:
    project.commit_on_main({"src/catalog/author.py": "AUTHOR = 1\n"}, "author by hand")
    session = project.start(components=["book"])
    assert project.executor.dispatched == ["book"]
    project.executor.finish("book")
    assert project.session(session.id).status == "complete"


# The integration child -------------------------------------------------------------

CATALOG = {"isbn": 20, "money": 10}


@pytest.fixture(params=BACKENDS)
def integrating(tmp_path: Path, request: pytest.FixtureRequest) -> Project:
    project = Project.create(tmp_path, CATALOG, verify=True, integration=2,
                             backend=request.param)
    project.verifier.passes = False
    project.verifier.message = "verify failed: 1 failed (test_seam)"
    return project


def test_an_integration_round_fixes_a_failing_verify(integrating: Project) -> None:
    project = integrating
    base = project.workspace.rev_parse("main")
    session = project.start()
    project.executor.finish_all()
    assert project.session(session.id).status == "finalizing"
    assert project.executor.dispatched[-1] == "_integration"
    dispatch = project.executor.dispatches[-1]
    assert dispatch.config.attempts == 2
    assert dispatch.config.test is not None and dispatch.config.test.command[-1] == "-q"
    row = project.executor.child("_integration")
    first_merge = project.session(session.id).merged_commit
    assert row.start_sha == first_merge
    assert row.spec["feedback"].startswith("verify failed: 1 failed (test_seam)")
    assert row.spec["designs"] == ["docs/design/catalog/isbn.md", "docs/design/catalog/money.md"]
    assert "src/catalog/money.py" in row.spec["allow"]

    project.verifier.passes = True
    project.executor.finish("_integration", files={"src/catalog/money.py": "SEAM = 1\n"})
    done = project.session(session.id)
    assert done.status == "complete", done.message
    assert project.verifier.commits == [first_merge, done.final_commit]
    assert project.workspace.show(done.branch, "src/catalog/money.py") == "SEAM = 1"
    assert "VALUE = 1" in project.workspace.show(done.branch, "src/catalog/isbn.py")
    assert project.workspace.rev_parse(f"{done.final_commit}^") == base
    assert "changed src/catalog/money.py" in project.workspace.message(done.branch)


def test_an_integration_round_that_fails_leaves_the_branch_unmoved(
        integrating: Project) -> None:
    project = integrating
    session = project.start()
    project.executor.finish_all()
    project.executor.finish("_integration", "failed",
                            message="_integration: verify failed after 2 attempts")
    rested = project.session(session.id)
    assert rested.status == "needs_attention"
    assert "verify failed on the merged tree: verify failed: 1 failed (test_seam)" in (
        rested.message)
    assert "integration child could not fix it" in rested.message
    assert project.branch_sha(rested.branch) == rested.base_sha
    assert len(project.verifier.commits) == 1


def test_an_integration_that_changes_a_file_outside_the_context_is_refused(
        integrating: Project) -> None:
    project = integrating
    session = project.start()
    project.executor.finish_all()
    project.verifier.passes = True
    project.executor.finish("_integration", files={"setup.py": "evil = 1\n"})
    rested = project.session(session.id)
    assert rested.status == "needs_attention"
    assert "changed files outside its own: setup.py" in rested.message
    assert project.branch_sha(rested.branch) == rested.base_sha


def test_a_retry_after_a_failed_integration_integrates_anew(integrating: Project) -> None:
    project = integrating
    session = project.start()
    project.executor.finish_all()
    project.executor.finish("_integration", "failed")
    project.retry(session.id)
    # Nothing failed among the components: the new round merges, verifies, integrates.
    assert project.executor.dispatched.count("_integration") == 2
    project.verifier.passes = True
    project.executor.finish("_integration", files={"src/catalog/isbn.py": "FIXED = 1\n"})
    assert project.session(session.id).status == "complete"
