"""The runner's inputs (DESIGN §6 entry and config), checked and typed."""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENTRY_FILES = ("design", "implementation", "test")
MAX_ATTEMPTS = 20


class InputError(ValueError):
    """Runner input that cannot be used; the message says which field and why."""


@dataclass(frozen=True)
class CommandConfig:
    """One command as an argv list with its timeout in seconds."""

    argv: tuple[str, ...]
    timeout: float


@dataclass(frozen=True)
class RunConfig:
    """The `config` input shared by every matrix entry."""

    setup: CommandConfig | None
    coder: CommandConfig | None
    test: CommandConfig | None
    verify: CommandConfig | None
    attempts: int


@dataclass(frozen=True)
class ComponentEntry:
    """One component matrix entry."""

    child: str
    component: str
    context: str
    child_branch: str
    design: str
    implementation: str
    test: str
    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class VerifyEntry:
    """The verify-mode matrix entry."""

    child: str
    ref: str
    component: str = "verify"


def load_json(value: str, what: str) -> Any:
    """Parse a JSON string, or the JSON file named by `@path`."""
    try:
        if value.startswith("@"):
            value = Path(value[1:]).read_text(encoding="utf-8")
        return json.loads(value)
    except OSError as error:
        raise InputError(f"{what}: cannot read {value[1:]!r}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{what}: not valid JSON ({error})") from None


def _string(body: dict, key: str, what: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise InputError(f"{what}: field {key!r} must be a non-empty string")
    return value


def _command(body: dict, key: str) -> CommandConfig | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InputError(f"config: {key!r} must be an object {{command, timeout}} or null")
    argv = value.get("command")
    if (not isinstance(argv, list) or not argv
            or not all(isinstance(arg, str) for arg in argv)):
        raise InputError(f"config: {key}.command must be a non-empty list of strings")
    timeout = value.get("timeout", 600)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise InputError(f"config: {key}.timeout must be a positive number of seconds")
    return CommandConfig(tuple(argv), float(timeout))


def parse_config(body: Any) -> RunConfig:
    """Return the typed config, or raise InputError naming the bad field."""
    if not isinstance(body, dict):
        raise InputError("config: must be a JSON object")
    attempts = body.get("attempts", 1)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not (
            1 <= attempts <= MAX_ATTEMPTS):
        raise InputError(f"config: 'attempts' must be an integer from 1 to {MAX_ATTEMPTS}")
    return RunConfig(
        setup=_command(body, "setup"),
        coder=_command(body, "coder"),
        test=_command(body, "test"),
        verify=_command(body, "verify"),
        attempts=attempts,
    )


def check_entry_path(path: str, what: str) -> str:
    """Return `path` if it is a safe repository-relative file path, else raise InputError."""
    # The same rule as the service's manifest paths (service/domain/manifest.py): a
    # forged or stale entry must not aim the coder at .git or outside the checkout.
    normal = posixpath.normpath(path)
    parts = normal.split("/")
    if (path.startswith("/") or "\\" in path or any(ord(ch) < 32 for ch in path)
            or normal != path or ".." in parts):
        raise InputError(f"{what}: {path!r} must be a normalised relative path inside the "
                         "repository, such as src/accounts/user.py")
    if any(part.split(":", 1)[0].rstrip(". ").lower() in (".git", "git~1") for part in parts):
        raise InputError(f"{what}: {path!r} is inside .git/; a component's files must be "
                         "ordinary repository files")
    return path


def parse_component_entry(body: Any) -> ComponentEntry:
    """Return the typed component entry, or raise InputError naming the bad field."""
    if not isinstance(body, dict):
        raise InputError("entry: must be a JSON object")
    fields = {key: _string(body, key, "entry")
              for key in ("child", "component", "context", "child_branch", *ENTRY_FILES)}
    if not fields["child_branch"].startswith("ccs-"):
        raise InputError("entry: 'child_branch' must start with 'ccs-' (ccs writes only its "
                         "own branches)")
    allow = body.get("allow") or []
    if not isinstance(allow, list) or not all(isinstance(path, str) for path in allow):
        raise InputError("entry: 'allow' must be a list of paths")
    for key in ENTRY_FILES:
        check_entry_path(fields[key], f"entry: {key!r}")
    for path in allow:
        check_entry_path(path, "entry: 'allow'")
    return ComponentEntry(**fields, allow=tuple(allow))


def parse_verify_entry(body: Any) -> VerifyEntry:
    """Return the typed verify entry, or raise InputError naming the bad field."""
    if not isinstance(body, dict):
        raise InputError("entry: must be a JSON object")
    return VerifyEntry(child=_string(body, "child", "entry"), ref=_string(body, "ref", "entry"))
