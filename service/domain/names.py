"""Names: contexts, components, session ids and the branches ccs writes."""

from __future__ import annotations

import re
import secrets

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}\Z")  # \Z: "$" would accept a trailing newline
SESSION_ID_PATTERN = re.compile(r"^[0-9a-f]{10}\Z")
# GitHub's own rules: an account of up to 39 letters, digits and hyphens; a repository name
# of up to 100 letters, digits, '.', '-' and '_'.
REPOSITORY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}\Z")
SESSION_BRANCH_PREFIX = "ccs/"
CHILD_BRANCH_PREFIX = "ccs-child/"
STAGING_BRANCH_PREFIX = "ccs-staging/"
WAVE_BRANCH_PREFIX = "ccs-wave/"
OWN_REF_PREFIXES = ("ccs/", "ccs-")


class InvalidName(ValueError):
    """A name or ref that ccs refuses to use."""


def check_name(kind: str, name: str) -> str:
    """Return `name` if it is a valid context or component name, else raise InvalidName."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidName(
            f"{kind} name {name!r} is not allowed: use a lowercase letter followed by up to 62 "
            "lowercase letters, digits or underscores (pattern ^[a-z][a-z0-9_]{0,62}$)"
        )
    return name


def is_repository(name: object) -> bool:
    """Tell whether `name` is a GitHub `owner/name` (anything else never reaches GitHub)."""
    return isinstance(name, str) and REPOSITORY_PATTERN.match(name) is not None


def new_session_id() -> str:
    """Return a fresh random session id (10 hex characters)."""
    return secrets.token_hex(5)


def check_session_id(session_id: str) -> str:
    """Return `session_id` if it has the shape ccs issues, else raise InvalidName."""
    if not isinstance(session_id, str) or not SESSION_ID_PATTERN.match(session_id):
        raise InvalidName(f"{session_id!r} is not a ccs session id (10 hex characters)")
    return session_id


def sanitize_branch_part(text: str) -> str:
    """Lowercase `text`, map anything outside [a-z0-9_-] to '-', collapse and trim hyphens."""
    lowered = text.lower()
    replaced = re.sub(r"[^a-z0-9_-]", "-", lowered)
    collapsed = re.sub(r"-{2,}", "-", replaced)
    return collapsed.strip("-")


def session_branch(context: str, session_id: str) -> str:
    """Return the session branch `ccs/<context>-<short id>`."""
    part = sanitize_branch_part(f"{context}-{session_id}")
    if not part:
        raise InvalidName(f"cannot build a branch name from context {context!r}")
    return check_ref_name(SESSION_BRANCH_PREFIX + part)


def child_branch(session_id: str, component: str) -> str:
    """Return the child branch; it lives under ccs-child/ so it never nests in a session ref."""
    part = sanitize_branch_part(component)
    return check_ref_name(f"{CHILD_BRANCH_PREFIX}{session_id}/{part}")


def staging_branch(session_id: str) -> str:
    """Return the staging branch the merged tree is verified on."""
    return check_ref_name(f"{STAGING_BRANCH_PREFIX}{session_id}")


def wave_branch(session_id: str, wave: int) -> str:
    """Return the branch a later dependency wave starts from (DESIGN §3b)."""
    return check_ref_name(f"{WAVE_BRANCH_PREFIX}{session_id}/{wave}")


_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def check_ref_name(name: str) -> str:
    """Return `name` if git's check-ref-format rules accept it as a branch, else raise."""
    problems = []
    if not name or name.startswith("-"):
        problems.append("is empty or starts with '-'")
    if _REF_FORBIDDEN.search(name):
        problems.append("contains a space, control character or one of ~^:?*[\\")
    if ".." in name or "@{" in name or name == "@" or "//" in name:
        problems.append("contains '..', '@{', '//' or is '@'")
    if name.startswith("/") or name.endswith("/") or name.endswith("."):
        problems.append("starts or ends with '/' or ends with '.'")
    for part in name.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            problems.append("has a component starting with '.' or ending with '.lock'")
            break
    if problems:
        raise InvalidName(f"branch name {name!r} is not valid: " + "; ".join(problems))
    return name


def is_own_ref(branch: str) -> bool:
    """Return True when `branch` is one ccs may write (under ccs/ or ccs-)."""
    return branch.startswith(OWN_REF_PREFIXES)
