"""What every preset shares: the run it is given, the command it returns, output helpers."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class AgentRun:
    """What a preset is given for one attempt."""

    prompt_text: str
    prompt_path: str
    checkout: str
    model: str | None = None
    max_turns: int | None = None
    budget_usd: float | None = None
    # Added after the first cut (add, don't rename): agents that need the files named.
    files: tuple[str, ...] = ()
    read_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Invocation:
    """The command a preset runs: argv, text fed on stdin, extra environment."""

    argv: tuple[str, ...]
    stdin: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)


class Preset(Protocol):
    """One agent CLI run headless: how to call it and how to read what it spent."""

    name: str
    program: str
    secret: str
    install: str

    def invocation(self, run: AgentRun) -> Invocation:
        """Return the command for one attempt."""
        ...

    def usage(self, stdout: str) -> dict[str, float | int]:
        """Return cost_usd / input_tokens / output_tokens read from stdout; {} when none."""
        ...


def json_values(stdout: str) -> Iterator[Any]:
    """Yield the whole output as JSON if it is, else every line that parses as JSON."""
    text = stdout.strip()
    if not text:
        return
    try:
        yield json.loads(text)
        return
    # Deeply nested garbage makes the decoder recurse too far; it is just not usage.
    except (ValueError, RecursionError):
        pass
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("{", "[")):
            try:
                yield json.loads(line)
            except (ValueError, RecursionError):
                continue


def json_objects(stdout: str) -> list[dict[str, Any]]:
    """Return the JSON objects in the output, in order (see json_values)."""
    return [value for value in json_values(stdout) if isinstance(value, dict)]


def count(value: Any) -> int:
    """Return a token count as a non-negative int, or 0 for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0
    return max(0, int(value))


def dollars(value: Any) -> float | None:
    """Return a cost as a non-negative float, or None when it is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return max(0.0, float(value))


def cap_text(budget_usd: float) -> str:
    """Format a spending cap for a command line, rounded down to 1/10000 of a dollar.

    Rounding down keeps the agent inside what is left, never a fraction above it.
    """
    text = f"{math.floor(budget_usd * 10_000) / 10_000:.4f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def usage_of(cost: float | None = None, input_tokens: int = 0,
             output_tokens: int = 0) -> dict[str, float | int]:
    """Return the usage dict, leaving out figures the agent did not report."""
    usage: dict[str, float | int] = {}
    if cost is not None:
        usage["cost_usd"] = cost
    if input_tokens:
        usage["input_tokens"] = input_tokens
    if output_tokens:
        usage["output_tokens"] = output_tokens
    return usage
