"""The runner's own input checks: an entry's paths stay inside the checkout and out of .git."""

from __future__ import annotations

import pytest

from action.spec import InputError, parse_component_entry

ENTRY = {"child": "c1", "component": "hasher", "context": "accounts",
         "child_branch": "ccs-child/s1/hasher", "design": "docs/hasher.md",
         "implementation": "src/hasher.py", "test": "tests/test_hasher.py", "allow": []}


def test_a_plain_entry_is_accepted() -> None:
    entry = parse_component_entry({**ENTRY, "allow": ["src/__init__.py", "src/.gitignore"]})
    assert entry.implementation == "src/hasher.py"
    assert entry.allow == ("src/__init__.py", "src/.gitignore")


@pytest.mark.parametrize("path", [
    ".git/hooks/post-commit", ".GIT/hooks/x", "src/.git/x", "src/.git./x", "src/.git /x",
    ".git::$INDEX_ALLOCATION/x", "GIT~1/config",
])
def test_paths_inside_git_are_refused(path: str) -> None:
    with pytest.raises(InputError, match=r"'implementation'.*inside \.git/"):
        parse_component_entry({**ENTRY, "implementation": path})


@pytest.mark.parametrize("path", [
    "/etc/passwd", "../outside.py", "src/../../x", "./src/x.py", "src//x.py", "src\\x.py",
    "src/x\n.py",
])
def test_paths_outside_the_checkout_are_refused(path: str) -> None:
    with pytest.raises(InputError, match="normalised relative path"):
        parse_component_entry({**ENTRY, "test": path})


def test_allow_paths_are_checked_too() -> None:
    with pytest.raises(InputError, match=r"'allow'.*inside \.git/"):
        parse_component_entry({**ENTRY, "allow": ["src/ok.py", "src/.Git/hooks/x"]})
