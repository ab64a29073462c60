"""Names: context/component validation, branch names, git ref rules, spawn order."""

from __future__ import annotations

import pytest

from service.adapters.manifest.parse import parse_manifest
from service.domain.manifest import ManifestError
from service.domain.names import (
    InvalidName,
    check_name,
    check_ref_name,
    check_session_id,
    child_branch,
    is_own_ref,
    new_session_id,
    sanitize_branch_part,
    session_branch,
    staging_branch,
)

SID = "0123abcdef"


@pytest.mark.parametrize(("context", "branch"), [
    ("Accounts", f"ccs/accounts-{SID}"),
    ("accounts", f"ccs/accounts-{SID}"),
    ("my ctx!", f"ccs/my-ctx-{SID}"),
    ("a--b", f"ccs/a-b-{SID}"),
    ("a!!b", f"ccs/a-b-{SID}"),
    ("-lead", f"ccs/lead-{SID}"),
    ("--lead--", f"ccs/lead-{SID}"),
    ("user_repository", f"ccs/user_repository-{SID}"),
    ("a..b", f"ccs/a-b-{SID}"),
    ("x.lock", f"ccs/x-lock-{SID}"),
    ("a@{b", f"ccs/a-b-{SID}"),
    ("a~b^c:d?e*f[g\\h", f"ccs/a-b-c-d-e-f-g-h-{SID}"),
    ("tab\there", f"ccs/tab-here-{SID}"),
])
def test_session_branch(context: str, branch: str) -> None:
    assert session_branch(context, SID) == branch
    assert check_ref_name(branch) == branch


@pytest.mark.parametrize(("text", "part"), [
    ("Accounts", "accounts"), ("my ctx!", "my-ctx"), ("a--b", "a-b"), ("---", ""),
    ("-x-", "x"), ("ÄÖ", ""), ("a/b", "a-b"),
])
def test_sanitize_branch_part(text: str, part: str) -> None:
    assert sanitize_branch_part(text) == part


def test_session_branch_is_refused_when_nothing_usable_remains() -> None:
    # "!!!" alone still has the id, so the branch is just the id.
    assert session_branch("!!!", SID) == f"ccs/{SID}"
    with pytest.raises(InvalidName, match="cannot build a branch name"):
        session_branch("!!!", "---")


@pytest.mark.parametrize("name", [
    "ccs/a..b", "ccs/a.lock", "ccs/a@{b", "ccs/a b", "ccs/a~b", "ccs/a^b", "ccs/a:b",
    "ccs/a?b", "ccs/a*b", "ccs/a[b", "ccs/a\\b", "ccs/.hidden", "ccs/a/", "/ccs/a",
    "ccs//a", "ccs/a.", "-ccs", "", "@", "ccs/a\x7f", "ccs/x.lock/y",
])
def test_check_ref_name_refuses_what_git_refuses(name: str) -> None:
    with pytest.raises(InvalidName, match="is not valid"):
        check_ref_name(name)


@pytest.mark.parametrize("name", ["ccs/a-b", "ccs-child/0123abcdef/isbn", "ccs/a.b",
                                  "ccs/a_b-1", "main"])
def test_check_ref_name_accepts_ordinary_branches(name: str) -> None:
    assert check_ref_name(name) == name


def test_child_branch_is_never_nested_under_a_session_ref() -> None:
    session = session_branch("catalog", SID)
    child = child_branch(SID, "isbn")
    assert child == f"ccs-child/{SID}/isbn"
    # git cannot hold refs/heads/ccs/x and refs/heads/ccs/x/y at once.
    assert not child.startswith(session + "/")
    assert not child.startswith("ccs/")
    assert is_own_ref(child) and is_own_ref(session)
    assert staging_branch(SID) == f"ccs-staging/{SID}" and is_own_ref(staging_branch(SID))


@pytest.mark.parametrize("branch", ["main", "feature/ccs", "ccsx", "refs/heads/ccs/x", "CCS/x"])
def test_other_branches_are_not_own_refs(branch: str) -> None:
    assert not is_own_ref(branch)


@pytest.mark.parametrize("name", ["a", "accounts", "user_repository", "x9", "a" * 63])
def test_valid_names(name: str) -> None:
    assert check_name("component", name) == name


@pytest.mark.parametrize("name", [
    "a;rm", "$(x)", "`x`", "a b", "a|b", "a&&b", "Accounts", "ACCOUNTS", "9lives", "_x",
    "a-b", "a.b", "a/b", "", "a" * 64, "a\n", None, 3,
])
def test_invalid_names(name) -> None:
    with pytest.raises(InvalidName, match=r"context name .* is not allowed.*\^\[a-z\]"):
        check_name("context", name)


def test_session_ids() -> None:
    issued = new_session_id()
    assert check_session_id(issued) == issued and len(issued) == 10
    for bad in ("", "0123ABCDEF", "0123abcde", "0123abcdefa", "../../etc", "0123abcdeg"):
        with pytest.raises(InvalidName):
            check_session_id(bad)


# Spawn order and --only subsets, through the manifest model -------------------------

MANIFEST = """\
version: 1
coder: {command: ["python", "coder.py"]}
test: {command: ["python", "-m", "pytest", "{test}"]}
contexts:
  catalog:
    description: c
    components:
      - {name: pricing, priority: 10}
      - {name: money, priority: 30}
      - {name: isbn, priority: 40}
      - {name: inventory, priority: 20}
      - {name: zeta}
      - {name: alpha}
      - {name: beta, priority: 30}
"""


def names(only: list[str] | None = None) -> list[str]:
    return [c.name for c in parse_manifest(MANIFEST).components("catalog", only)]


def test_spawn_order_is_priority_descending_then_name_ascending() -> None:
    assert names() == ["isbn", "beta", "money", "inventory", "pricing", "alpha", "zeta"]


def test_only_keeps_the_spawn_order_whatever_order_it_is_given_in() -> None:
    assert names(["zeta", "isbn", "money"]) == ["isbn", "money", "zeta"]
    assert names(["alpha"]) == ["alpha"]
    assert names([]) == names()


def test_only_with_an_unknown_component_names_it_and_the_known_ones() -> None:
    with pytest.raises(ManifestError, match=r"no component 'nope'; it has: alpha, beta"):
        names(["isbn", "nope"])


def test_unknown_context_lists_the_known_ones() -> None:
    with pytest.raises(ManifestError, match=r"unknown context 'shop'.*defines: catalog"):
        parse_manifest(MANIFEST).components("shop")
