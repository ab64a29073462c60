"""Service mode against the test GitHub (DESIGN §3b): the bookshop's `orders` context, whose
order_book needs order and whose merged tree fails verify until an integration round fixes
the seam. Jobs run the real action and the example coder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.domain.commands import RetrySession, StartSession
from service.orchestrator.errors import BadInput
from service.web.shapes import session_json
from tests.fakes.callback_server import REPO, TOKEN, CallbackServer, bookshop_files, service_bus
from tests.fakes.github import FakeGitHub

ORDER = "docs/design/orders/order.md"
ORDER_BOOK = "docs/design/orders/order_book.md"
RESTED = ("complete", "needs_attention", "failed", "cancelled")


@pytest.fixture
def callback() -> Iterator[CallbackServer]:
    server = CallbackServer()
    yield server
    server.stop()


def start(gh: FakeGitHub, tmp_path: Path, callback: CallbackServer,
          files: dict[str, str] | None = None):
    gh.create_repository(REPO, files={**bookshop_files(), **(files or {})})
    gh.add_token(TOKEN)
    issue = gh.create_issue(REPO, title="Implement the orders")
    store, bus = service_bus(tmp_path, gh, callback)
    session = bus.handle(StartSession(repository=REPO, context="orders", base="main",
                                      issue=issue.number, source="comment"))
    return store, bus, session, issue


def rest(gh: FakeGitHub, store, session_id: str):
    gh.wait_for(lambda: store.session(session_id).status in RESTED, timeout=240)
    return store.session(session_id)


def dispatched(gh: FakeGitHub) -> list[tuple[str, str, list[str]]]:
    """Return each dispatch as (mode, branch input, components)."""
    return [(run.inputs["mode"], run.inputs["branch"],
             [e["component"] for e in json.loads(run.inputs["matrix"])["include"]])
            for run in gh.runs(REPO)]


def test_waves_then_an_integration_round_fix_the_seam(tmp_path: Path,
                                                      callback: CallbackServer) -> None:
    with FakeGitHub.start(tmp_path) as gh:
        store, _bus, session, issue = start(gh, tmp_path, callback)
        done = rest(gh, store, session.id)
        assert done.status == "complete", done.message

        session_branch, wave, staging = (done.branch, f"ccs-wave/{done.id}/1",
                                         f"ccs-staging/{done.id}")
        assert dispatched(gh) == [
            ("component", session_branch, ["order"]),  # wave 1: one dispatch
            ("component", wave, ["order_book"]),  # wave 2: on top of order's work
            ("verify", session_branch, ["verify"]),  # fails on the seam
            ("component", staging, ["_integration"]),  # a job, on the merged tree
            ("verify", session_branch, ["verify"]),  # passes on the integrated tree
        ]
        children = {c.component: c for c in store.children(done.id)}
        # order_book's start commit is the wave branch, which holds order's work.
        assert children["order_book"].start_sha == gh.branch_sha(REPO, wave)
        assert children["order"].start_sha == done.base_sha
        assert gh.read_file(REPO, wave, "src/orders/order.py")
        assert "order.to_line() for order in self._orders" in gh.read_file(
            REPO, done.branch, "src/orders/order_book.py")
        (pull,) = gh.pull_requests(REPO)
        assert "Integration after verify failed" in pull.body
        assert "src/orders/order_book.py" in pull.body
        gh.wait_for(lambda: "complete" in gh.comments(REPO, issue.number)[0].body)
        comment = gh.comments(REPO, issue.number)[0].body
        assert "**Wave 1**" in comment and "**Wave 2**" in comment
        assert "*integration on the merged tree (verify failed)* — ✅ succeeded" in comment
        # The API shows the waves and what the integration round changed (DESIGN §3b, §5).
        shown = session_json(store, store.session(done.id))
        assert {c["component"]: c["wave"] for c in shown["children"]} == {
            "order": 0, "order_book": 1}
        assert shown["integration"]["status"] == "succeeded"
        assert "src/orders/order_book.py" in shown["integration"]["changed_files"]
        assert gh.schema_errors == []


def test_a_failure_cancels_its_dependent_and_a_retry_reruns_both(
        tmp_path: Path, callback: CallbackServer) -> None:
    broken = bookshop_files()[ORDER].replace("return self.quantity * self.unit_cents",
                                             "return self.quantity + self.unit_cents")
    with FakeGitHub.start(tmp_path) as gh:
        store, bus, session, _issue = start(gh, tmp_path, callback, {ORDER: broken})
        parked = rest(gh, store, session.id)
        assert parked.status == "needs_attention"
        children = {c.component: c for c in store.children(session.id)}
        assert children["order"].status == "failed"
        assert children["order_book"].status == "cancelled"
        assert children["order_book"].message.startswith("order_book: cancelled: it needs order")
        assert [d[2] for d in dispatched(gh)] == [["order"]]  # order_book never dispatched

        gh.commit_files(REPO, "main", {ORDER: bookshop_files()[ORDER]}, "Fix the total")
        bus.handle(RetrySession(repository=REPO, session_id=session.id))
        done = rest(gh, store, session.id)
        assert done.status == "complete", done.message
        components = [d[2] for d in dispatched(gh) if d[0] == "component"]
        assert components == [["order"], ["order"], ["order_book"], ["_integration"]]


def test_an_integration_round_that_fails_leaves_the_branch_unmoved(
        tmp_path: Path, callback: CallbackServer) -> None:
    no_seam = bookshop_files()[ORDER_BOOK].replace("```python seam src/orders/order_book.py",
                                                   "```python noseam")
    with FakeGitHub.start(tmp_path) as gh:
        store, _bus, session, _issue = start(gh, tmp_path, callback, {ORDER_BOOK: no_seam})
        parked = rest(gh, store, session.id)
        assert parked.status == "needs_attention"
        assert "verify failed on the merged tree: verify failed: 1 failed" in parked.message
        assert "integration child could not fix it" in parked.message
        assert gh.branch_sha(REPO, parked.branch) == parked.base_sha
        assert gh.pull_requests(REPO) == []


def test_a_cycle_is_refused_before_anything_runs(tmp_path: Path,
                                                 callback: CallbackServer) -> None:
    manifest = bookshop_files()[".github/ccs.yml"].replace(
        "      - name: order\n        priority: 20\n",
        "      - name: order\n        priority: 20\n        needs: [order_book]\n")
    with FakeGitHub.start(tmp_path) as gh, pytest.raises(BadInput) as refused:
        start(gh, tmp_path, callback, {".github/ccs.yml": manifest})
    assert "dependency cycle: order needs order_book, order_book needs order" in str(
        refused.value)
    assert refused.value.code == "invalid_manifest"
