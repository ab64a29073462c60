"""The JSON wire format shared with the child job (DESIGN §6), as typed values."""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict, dataclass, field
from typing import Any

from service.domain.bundles import MAX_BUNDLE_CHARS
from service.domain.spend import MAX_COST_USD, Usage

RESULT_STATUSES = ("succeeded", "failed")
MAX_MESSAGE_CHARS = 4000
MAX_CHANGED_FILES = 10_000
# Counts and ids beyond this are bad input, not numbers to store (BIGINT, and JSON's 2**53).
MAX_INTEGER = 2**53


class InvalidResult(ValueError):
    """A child result that does not match the wire format."""


@dataclass(frozen=True)
class TestCounts:
    """How many tests passed, failed, errored and were skipped."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0

    @property
    def ran(self) -> int:
        """Return how many tests ran (skipped ones do not count)."""
        return self.passed + self.failed + self.errors

    def summary(self) -> str:
        """Return a short human summary such as '5 passed, 1 failed'."""
        parts = [f"{self.passed} passed"]
        for label, count in (("failed", self.failed), ("errors", self.errors)):
            if count:
                parts.append(f"{count} {label}")
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        return ", ".join(parts)


@dataclass(frozen=True)
class ChildResult:
    """What a child job reports when it ends (the callback body)."""

    status: str
    commit: str | None
    branch: str | None
    attempts: int
    tests: TestCounts
    changed_files: tuple[str, ...] = ()
    message: str = ""
    log_url: str | None = None
    run_id: int | None = None
    job_id: int | None = None
    usage: Usage | None = None
    bundle: bytes | None = field(default=None, repr=False)  # the child commit (DESIGN §6a)

    @property
    def succeeded(self) -> bool:
        """Return True when the job says it succeeded."""
        return self.status == "succeeded"

    def to_json(self) -> dict[str, Any]:
        """Return the wire-format dict."""
        body = asdict(self)
        body["changed_files"] = list(self.changed_files)
        body["usage"] = self.usage.to_json() if self.usage else None
        body["bundle"] = base64.b64encode(self.bundle).decode() if self.bundle else None
        keep_null = ("commit", "branch")
        return {k: v for k, v in body.items() if v is not None or k in keep_null}


def _int(body: dict, key: str, default: int | None = 0) -> int | None:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INTEGER:
        raise InvalidResult(f"result field {key!r} must be a non-negative integer of at "
                            f"most {MAX_INTEGER}")
    return value


def _usage(body: dict) -> Usage | None:
    value = body.get("usage")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidResult("result field 'usage' must be an object {cost_usd, input_tokens, "
                            "output_tokens}")
    cost = value.get("cost_usd") or 0
    if isinstance(cost, bool) or not isinstance(cost, int | float) or not (
            0 <= cost <= MAX_COST_USD):
        raise InvalidResult(f"result field 'usage.cost_usd' must be a number of dollars from 0 "
                            f"to {MAX_COST_USD:,.0f}")
    return Usage(float(cost), _int(value, "input_tokens") or 0, _int(value, "output_tokens") or 0)


def _optional_str(body: dict, key: str, limit: int = 500) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidResult(f"result field {key!r} must be a string of at most {limit} chars")
    return value


def _bundle(body: dict) -> bytes | None:
    value = body.get("bundle")
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidResult("result field 'bundle' must be a base64 string (a git bundle)")
    if len(value) > MAX_BUNDLE_CHARS:
        raise InvalidResult(f"result field 'bundle' is {len(value):,} characters; at most "
                            f"{MAX_BUNDLE_CHARS:,} (8 MiB of base64) travel in a result")
    try:
        return base64.b64decode(value, validate=True) or None
    except (binascii.Error, ValueError):
        raise InvalidResult("result field 'bundle' is not valid base64") from None


def parse_result(body: Any) -> ChildResult:
    """Turn a callback body into a ChildResult, or raise InvalidResult saying what is wrong."""
    if not isinstance(body, dict):
        raise InvalidResult("result must be a JSON object")
    status = body.get("status")
    if status not in RESULT_STATUSES:
        raise InvalidResult(f"result field 'status' must be one of {', '.join(RESULT_STATUSES)}")
    tests_body = body.get("tests") or {}
    if not isinstance(tests_body, dict):
        raise InvalidResult("result field 'tests' must be an object")
    counts = {k: _int(tests_body, k) for k in ("passed", "failed", "errors", "skipped")}
    tests = TestCounts(**counts)
    changed = body.get("changed_files") or []
    if not isinstance(changed, list) or not all(isinstance(p, str) for p in changed):
        raise InvalidResult("result field 'changed_files' must be a list of paths")
    if len(changed) > MAX_CHANGED_FILES:
        raise InvalidResult(f"result lists more than {MAX_CHANGED_FILES} changed files")
    commit = _optional_str(body, "commit", 64)
    if commit is not None and not all(c in "0123456789abcdef" for c in commit.lower()):
        raise InvalidResult("result field 'commit' must be a hex commit sha")
    message = body.get("message") or ""
    if not isinstance(message, str):
        raise InvalidResult("result field 'message' must be a string")
    return ChildResult(
        status=status,
        commit=commit.lower() if commit else None,
        branch=_optional_str(body, "branch", 255),
        attempts=_int(body, "attempts") or 0,
        tests=tests,
        changed_files=tuple(changed),
        message=message[:MAX_MESSAGE_CHARS],
        log_url=_optional_str(body, "log_url", 2000),
        run_id=_int(body, "run_id", None),
        usage=_usage(body),
        job_id=_int(body, "job_id", None),
        bundle=_bundle(body),
    )


@dataclass(frozen=True)
class CommandSpec:
    """A command as an argv list with a timeout in seconds."""

    command: tuple[str, ...]
    timeout: int

    def to_json(self) -> dict[str, Any]:
        """Return the wire-format dict."""
        return {"command": list(self.command), "timeout": self.timeout}


@dataclass(frozen=True)
class CoderSpec(CommandSpec):
    """The coder: a command, or an agent preset (empty command) with its settings (§3a)."""

    agent: str | None = None
    model: str | None = None
    prompt: str | None = None
    max_turns: int | None = None
    budget_usd: float | None = None
    env: tuple[str, ...] = ()

    @property
    def program(self) -> str:
        """Return what runs: the command's program, or the agent's name."""
        return self.agent or (self.command[0] if self.command else "")

    def to_json(self) -> dict[str, Any]:
        """Return the wire-format dict (only the keys that are set)."""
        body: dict[str, Any] = {"timeout": self.timeout}
        if self.agent:
            body["agent"] = self.agent
        else:
            body["command"] = list(self.command)
        for key in ("model", "prompt", "max_turns", "budget_usd"):
            if getattr(self, key) is not None:
                body[key] = getattr(self, key)
        if self.env:
            body["env"] = list(self.env)
        return body


@dataclass(frozen=True)
class JobConfig:
    """The `config` input shared by every matrix entry of one dispatch."""

    setup: CommandSpec | None
    coder: CoderSpec
    test: CommandSpec
    verify: CommandSpec | None
    attempts: int

    def to_json(self) -> dict[str, Any]:
        """Return the wire-format dict."""
        def spec(value: CommandSpec | None) -> dict[str, Any] | None:
            return value.to_json() if value else None

        return {
            "setup": spec(self.setup),
            "coder": spec(self.coder),
            "test": spec(self.test),
            "verify": spec(self.verify),
            "attempts": self.attempts,
        }


@dataclass(frozen=True)
class ComponentEntry:
    """One matrix entry in component mode."""

    child: str
    component: str
    context: str
    child_branch: str
    design: str
    implementation: str
    test: str
    allow: tuple[str, ...] = field(default=())
    description: str = ""  # the context's description (the prompt's ${description})
    # The integration child (DESIGN §3b): every design doc of the context for its prompt,
    # and the failing verify's output as the feedback of its first attempt.
    designs: tuple[str, ...] = field(default=())
    feedback: str = ""

    def to_json(self) -> dict[str, Any]:
        """Return the wire-format dict (optional fields only when set)."""
        body = asdict(self)
        body["allow"] = list(self.allow)
        body["designs"] = list(self.designs)
        for key in ("description", "designs", "feedback"):
            if not body[key]:
                del body[key]
        return body


def component_entry(child: Any) -> ComponentEntry:
    """Return the matrix entry of a component child (from its resolved spec)."""
    spec = child.spec
    return ComponentEntry(
        child=child.id, component=child.component, context=spec["context"],
        child_branch=child.branch, design=spec["design"],
        implementation=spec["implementation"], test=spec["test"],
        allow=tuple(spec.get("allow") or ()), description=spec.get("description") or "",
        designs=tuple(spec.get("designs") or ()), feedback=spec.get("feedback") or "",
    )


@dataclass(frozen=True)
class VerifyEntry:
    """The single matrix entry in verify mode."""

    child: str
    ref: str
    component: str = "verify"

    def to_json(self) -> dict[str, Any]:
        """Return the wire-format dict."""
        return {"child": self.child, "component": self.component, "ref": self.ref}
