"""What a coder spent: the CCS_USAGE file, sums over attempts, the component budget."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

USAGE_KEYS = ("cost_usd", "input_tokens", "output_tokens")
MAX_USAGE_FILE_BYTES = 64 * 1024

Usage = dict[str, float | int]


def clean_usage(body: Any) -> tuple[Usage, list[str]]:
    """Return the usable figures of a usage object and a note for each one left out."""
    if not isinstance(body, dict):
        return {}, ["the usage file must hold a JSON object"]
    usage: Usage = {}
    notes = []
    for key, value in body.items():
        if key not in USAGE_KEYS:
            notes.append(f"unknown key {key!r} ignored (use {', '.join(USAGE_KEYS)})")
        elif (isinstance(value, bool) or not isinstance(value, int | float)
              or not math.isfinite(value) or value < 0):
            notes.append(f"{key} must be a non-negative number, not {value!r}")
        elif key == "cost_usd":
            usage[key] = float(value)
        else:
            usage[key] = int(value)
    return usage, notes


def read_usage_file(path: Path) -> tuple[Usage, list[str]]:
    """Read what a coder wrote to CCS_USAGE; a missing or empty file is no usage."""
    try:
        # A FIFO (the coder writes this file) would block the read: regular files only.
        if not path.is_file():
            if path.exists() or path.is_symlink():
                return {}, ["the usage file is not a regular file; ignored"]
            return {}, []
        with path.open("rb") as handle:
            raw = handle.read(MAX_USAGE_FILE_BYTES + 1)
    except FileNotFoundError:
        return {}, []
    except OSError as error:
        return {}, [f"cannot read the usage file: {error.strerror}"]
    if len(raw) > MAX_USAGE_FILE_BYTES:
        return {}, [f"the usage file is over {MAX_USAGE_FILE_BYTES} bytes; ignored"]
    if not raw.strip():
        return {}, []
    try:
        body = json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError as error:
        return {}, [f"the usage file is not valid JSON ({error})"]
    return clean_usage(body)


def write_usage_file(path: Path, usage: Mapping[str, float | int]) -> None:
    """Write `usage` as the CCS_USAGE file holds it."""
    path.write_text(json.dumps(dict(usage)) + "\n", encoding="utf-8")


def add_usage(total: Mapping[str, float | int], more: Mapping[str, float | int]) -> Usage:
    """Return the sum of two usages, key by key."""
    summed: Usage = dict(total)
    for key, value in more.items():
        summed[key] = summed.get(key, 0) + value
    return summed


def spent_anything(usage: Mapping[str, float | int]) -> bool:
    """Return True when any figure is above zero (a result reports usage only then)."""
    return any(value > 0 for value in usage.values())


def cost_of(usage: Mapping[str, float | int]) -> float:
    """Return the dollars spent; an agent that reports no cost counts as 0."""
    return float(usage.get("cost_usd", 0.0))


def describe_usage(usage: Mapping[str, float | int]) -> str:
    """Return e.g. '$0.37, 5100 input and 900 output tokens'."""
    parts = []
    if "cost_usd" in usage:
        parts.append(f"${usage['cost_usd']:.2f}")
    tokens = [f"{usage[key]} {key.split('_')[0]}" for key in ("input_tokens", "output_tokens")
              if key in usage]
    if tokens:
        parts.append(" and ".join(tokens) + " tokens")
    return ", ".join(parts) or "nothing reported"


def budget_message(spent: float, budget: float, attempts: int) -> str:
    """Return why no further attempt runs, with the figures."""
    plural = "s" if attempts != 1 else ""
    return (f"budget reached: spent ${spent:.2f} of coder.budget_usd ${budget:.2f} "
            f"in {attempts} attempt{plural}; no further attempt")
