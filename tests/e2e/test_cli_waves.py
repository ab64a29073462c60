"""Dependency waves and the integration round through `ccs run` (DESIGN §3b), on the bookshop's
`orders` context: order_book needs order, and verify fails until an integration round fixes
the seam between them."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.cli.demo import prepare
from tests.fakes.cli import body_of, ccs, children
from tests.fakes.local import git

pytestmark = pytest.mark.slow

ORDER = Path("docs/design/orders/order.md")
ORDER_BOOK = Path("docs/design/orders/order_book.md")
MANIFEST = Path(".github/ccs.yml")


@pytest.fixture
def bookshop(tmp_path: Path) -> Path:
    return prepare(tmp_path)


def edit(repo: Path, path: Path, old: str, new: str, message: str) -> None:
    text = (repo / path).read_text()
    assert old in text
    (repo / path).write_text(text.replace(old, new))
    git(repo, "commit", "--quiet", "-am", message)


def is_ancestor(repo: Path, ancestor: str, descendant: str) -> bool:
    done = git(repo, "merge-base", ancestor, descendant)
    return done == git(repo, "rev-parse", ancestor)


def test_waves_run_in_order_and_an_integration_round_fixes_the_seam(bookshop: Path) -> None:
    check = ccs(bookshop, "check")
    assert check.returncode == 0, check.stderr
    assert "waves of orders: 1) order  2) order_book" in check.stdout

    done = ccs(bookshop, "run", "orders", "--json")
    assert done.returncode == 0, done.stderr
    body = body_of(done)
    assert body["status"] == "complete", body["message"]
    by_name = children(body)
    assert [by_name["order"]["wave"], by_name["order_book"]["wave"]] == [0, 1]
    # order_book started on top of order's work: order's commit is in its history.
    session = body["session"]
    order = git(bookshop, "rev-parse", f"ccs-child/{session}/order")
    assert is_ancestor(bookshop, order, f"ccs-child/{session}/order_book")
    assert body["integration"]["status"] == "succeeded"
    assert body["integration"]["changed_files"] == ["src/orders/order_book.py"]
    fixed = git(bookshop, "show", f"{body['branch']}:src/orders/order_book.py")
    assert "order.to_line() for order in self._orders" in fixed
    assert "Integration after verify failed" in git(bookshop, "log", "-1", "--format=%B",
                                                    body["branch"])


def test_a_failure_cancels_its_dependent_and_a_retry_reruns_both(bookshop: Path) -> None:
    edit(bookshop, ORDER, "return self.quantity * self.unit_cents",
         "return self.quantity + self.unit_cents", "Break the order's total")
    failed = ccs(bookshop, "run", "orders", "--json")
    assert failed.returncode == 1, failed.stderr
    body = body_of(failed)
    by_name = children(body)
    assert by_name["order"]["status"] == "failed"
    assert by_name["order_book"]["status"] == "cancelled"
    assert by_name["order_book"]["message"].startswith("order_book: cancelled: it needs order")
    assert by_name["order_book"]["attempts"] == 0  # it never ran

    edit(bookshop, ORDER, "return self.quantity + self.unit_cents",
         "return self.quantity * self.unit_cents", "Fix the order's total")
    retried = ccs(bookshop, "retry", body["session"], "--json")
    assert retried.returncode == 0, retried.stderr
    again = body_of(retried)
    assert again["status"] == "complete", again["message"]
    assert {c["status"] for c in again["children"]} == {"succeeded"}


def test_a_cycle_is_rejected_with_exit_2_naming_it(bookshop: Path) -> None:
    edit(bookshop, MANIFEST, "      - name: order\n        priority: 20\n",
         "      - name: order\n        priority: 20\n        needs: [order_book]\n",
         "A cycle")
    for args in (("check",), ("run", "orders", "--json")):
        done = ccs(bookshop, *args)
        assert done.returncode == 2, done.stderr
        assert ".github/ccs.yml:" in done.stderr
        assert "dependency cycle: order needs order_book, order_book needs order" in done.stderr
    assert body_of(done)["status"] == "rejected"
    assert git(bookshop, "for-each-ref", "refs/heads/ccs/") == ""


def test_only_must_name_what_a_component_needs(bookshop: Path) -> None:
    done = ccs(bookshop, "run", "orders", "--only", "order_book", "--json")
    assert done.returncode == 2
    assert "order_book needs order" in body_of(done)["message"]
    assert "--only order_book,order" in body_of(done)["message"]


def test_an_integration_round_that_fails_leaves_the_branch_unmoved(bookshop: Path) -> None:
    # Without its seam block the example coder cannot fix the export: verify keeps failing.
    edit(bookshop, ORDER_BOOK, "```python seam src/orders/order_book.py",
         "```python noseam", "No seam fix")
    done = ccs(bookshop, "run", "orders", "--json")
    assert done.returncode == 1, done.stderr
    body = body_of(done)
    assert body["status"] == "needs_attention"
    assert "verify failed on the merged tree: verify failed: 1 failed" in body["message"]
    assert "test_the_export_reads_back_as_the_same_orders" in body["message"]
    assert "integration child could not fix it" in body["message"]
    assert body["integration"]["status"] == "failed"
    assert body["integration"]["attempts"] == 2
    base = git(bookshop, "rev-parse", "main")
    assert git(bookshop, "rev-parse", body["branch"]) == base
