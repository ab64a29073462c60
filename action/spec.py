"""The runner's inputs (DESIGN §6 entry and config), checked and typed."""

from __future__ import annotations

import json
import math
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from action.agents import PRESETS

ENTRY_FILES = ("design", "implementation", "test")
# The most a result's "bundle" may hold, base64-encoded: service/domain/bundles.py says the
# same (the two share only the wire format; tests/unit/test_bundles.py keeps them equal).
MAX_BUNDLE_CHARS = 8 * 1024 * 1024
MAX_ATTEMPTS = 20
MAX_FEEDBACK_CHARS = 20_000
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Keys only an agent coder can use; a command coder passes such things in its own argv.
_AGENT_ONLY = ("model", "max_turns")


class InputError(ValueError):
    """Runner input that cannot be used; the message says which field and why."""


@dataclass(frozen=True)
class CommandConfig:
    """One command as an argv list with its timeout in seconds."""

    argv: tuple[str, ...]
    timeout: float


@dataclass(frozen=True)
class CoderConfig(CommandConfig):
    """The coder: a command (`argv`) or an agent preset (`agent`, empty `argv`), DESIGN §3a."""

    agent: str | None = None
    model: str | None = None
    prompt: str | None = None
    max_turns: int | None = None
    budget_usd: float | None = None
    env: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunConfig:
    """The `config` input shared by every matrix entry."""

    setup: CommandConfig | None
    coder: CoderConfig | None
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
    description: str = ""
    designs: tuple[str, ...] = ()  # the integration child: every design doc of the context
    feedback: str = ""  # the integration child: verify's output, attempt 1's feedback


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
    return CommandConfig(_argv(value, key), _timeout(value, key))


def _argv(value: dict, key: str) -> tuple[str, ...]:
    argv = value.get("command")
    if (not isinstance(argv, list) or not argv
            or not all(isinstance(arg, str) for arg in argv)):
        raise InputError(f"config: {key}.command must be a non-empty list of strings")
    return tuple(argv)


def _timeout(value: dict, key: str) -> float:
    timeout = value.get("timeout", 600)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise InputError(f"config: {key}.timeout must be a positive number of seconds")
    return float(timeout)


def _coder(body: dict) -> CoderConfig | None:
    value = body.get("coder")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InputError("config: 'coder' must be an object {command | agent, timeout, ...} "
                         "or null")
    # A key given as null counts as absent: serialisers write every field.
    if (value.get("command") is None) == (value.get("agent") is None):
        raise InputError("config: coder needs exactly one of 'command' (an argv list) and "
                         f"'agent' (one of {', '.join(sorted(PRESETS))})")
    agent = value.get("agent")
    if agent is None:
        extra = [key for key in _AGENT_ONLY if value.get(key) is not None]
        if extra:
            raise InputError(f"config: coder.{extra[0]} applies only to an agent coder; "
                             "drop it or pass it in coder.command")
    elif agent not in PRESETS:
        raise InputError(f"config: coder.agent {agent!r} is not a known agent; use one of "
                         f"{', '.join(sorted(PRESETS))}")
    return CoderConfig(
        argv=_argv(value, "coder") if agent is None else (),
        timeout=_timeout(value, "coder"), agent=agent,
        model=_optional_text(value, "model"), prompt=_template_path(value.get("prompt")),
        max_turns=_max_turns(value.get("max_turns")),
        budget_usd=_budget(value.get("budget_usd")), env=_env_names(value.get("env")))


def _optional_text(value: dict, key: str) -> str | None:
    text = value.get(key)
    if text is not None and (not isinstance(text, str) or not text.strip()):
        raise InputError(f"config: coder.{key} must be a non-empty string")
    return text


def _template_path(path: Any) -> str | None:
    if path is None:
        return None
    if not isinstance(path, str) or not path.strip():
        raise InputError("config: coder.prompt must be a path in the repository")
    parts = PurePosixPath(path).parts
    if path.startswith("/") or "\\" in path or ".." in parts or ".git" in parts[:1]:
        raise InputError(f"config: coder.prompt {path!r} must be a relative path inside the "
                         "repository (no '..', not under .git/)")
    return path


def _max_turns(turns: Any) -> int | None:
    if turns is not None and (isinstance(turns, bool) or not isinstance(turns, int)
                              or turns < 1):
        raise InputError("config: coder.max_turns must be a positive integer")
    return turns


def _budget(budget: Any) -> float | None:
    if budget is None:
        return None
    if (isinstance(budget, bool) or not isinstance(budget, int | float)
            or not math.isfinite(budget) or budget <= 0):
        raise InputError("config: coder.budget_usd must be a positive number of dollars")
    return float(budget)


def _env_names(names: Any) -> tuple[str, ...]:
    if names is None:
        return ()
    if not isinstance(names, list) or not all(
            isinstance(name, str) and _ENV_NAME.match(name) for name in names):
        raise InputError("config: coder.env must be a list of environment variable names "
                         "(letters, digits, _), never values")
    return tuple(names)


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
        coder=_coder(body),
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
    description = body.get("description") or ""
    if not isinstance(description, str):
        raise InputError("entry: 'description' must be a string")
    designs = body.get("designs") or []
    if not isinstance(designs, list) or not all(isinstance(path, str) for path in designs):
        raise InputError("entry: 'designs' must be a list of paths")
    for path in designs:
        check_entry_path(path, "entry: 'designs'")
    feedback = body.get("feedback") or ""
    if not isinstance(feedback, str) or len(feedback) > MAX_FEEDBACK_CHARS:
        raise InputError(f"entry: 'feedback' must be a string of at most {MAX_FEEDBACK_CHARS} "
                         "characters")
    return ComponentEntry(**fields, allow=tuple(allow), description=description,
                          designs=tuple(designs), feedback=feedback)


def parse_verify_entry(body: Any) -> VerifyEntry:
    """Return the typed verify entry, or raise InputError naming the bad field."""
    if not isinstance(body, dict):
        raise InputError("entry: must be a JSON object")
    return VerifyEntry(child=_string(body, "child", "entry"), ref=_string(body, "ref", "entry"))
