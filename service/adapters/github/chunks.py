"""Pure dispatch planning (DESIGN §6): matrix entries and chunks within GitHub's input limits."""

from __future__ import annotations

import json
from typing import Any

from service.domain.wire import component_entry as wire_component_entry

MAX_ENTRIES = 256
MAX_INPUT_CHARS = 65_535
_EMPTY_MATRIX = len('{"include":[]}')


class DispatchTooLarge(ValueError):
    """One entry (or the shared inputs alone) cannot fit in a workflow dispatch."""


def compact(value: Any) -> str:
    """Return `value` as JSON without spaces (every character counts against the limit)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def component_entry(child: Any) -> dict[str, Any]:
    """Return the matrix entry of a component child as JSON."""
    return wire_component_entry(child).to_json()


def matrix_input(entries: list[dict[str, Any]]) -> str:
    """Return the `matrix` input for some entries."""
    return compact({"include": entries})


def plan_chunks(entries: list[dict[str, Any]], fixed_chars: int,
                max_entries: int = MAX_ENTRIES,
                max_chars: int = MAX_INPUT_CHARS) -> list[list[dict[str, Any]]]:
    """Split entries, in order, so each chunk has ≤ max_entries and fits the character budget.

    `fixed_chars` is the length of every other input of the dispatch (config, session, …):
    GitHub limits the inputs together, so the matrix gets what they leave.
    """
    budget = max_chars - fixed_chars - _EMPTY_MATRIX
    if budget <= 0:
        raise DispatchTooLarge(f"the job config alone takes {fixed_chars} of the {max_chars} "
                               "characters a workflow dispatch may carry; shorten the commands")
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    used = 0
    for entry in entries:
        size = len(compact(entry))
        if size > budget:
            raise DispatchTooLarge(f"{entry.get('component')}: its matrix entry has {size} "
                                   f"characters, more than the {budget} left for it")
        extra = size + (1 if current else 0)  # the comma between entries
        if current and (len(current) >= max_entries or used + extra > budget):
            chunks.append(current)
            current, used, extra = [], 0, size
        current.append(entry)
        used += extra
    if current:
        chunks.append(current)
    return chunks


def dispatch_inputs(session: str, branch: str, callback: str, mode: str, config: str,
                    entries: list[dict[str, Any]], max_parallel: int = 8) -> dict[str, str]:
    """Return the workflow_dispatch inputs (all strings, as GitHub requires)."""
    return {"session": session, "branch": branch, "callback": callback, "mode": mode,
            "config": config, "matrix": matrix_input(entries),
            "max-parallel": str(max_parallel)}


def fixed_input_chars(session: str, branch: str, callback: str, mode: str, config: str) -> int:
    """Return the characters the non-matrix inputs take."""
    # Four characters cover the max-parallel input's value.
    return sum(len(value) for value in (session, branch, callback, mode, config)) + 4
