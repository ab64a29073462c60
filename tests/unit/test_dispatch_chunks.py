"""Dispatch planning: ≤256 entries per dispatch and all inputs within 65,535 characters."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from service.adapters.github.chunks import (
    MAX_INPUT_CHARS,
    DispatchTooLarge,
    compact,
    component_entry,
    dispatch_inputs,
    fixed_input_chars,
    matrix_input,
    plan_chunks,
)


def entry(n: int, pad: int = 0) -> dict:
    return {"child": f"c{n:04d}", "component": f"comp_{n}", "context": "ctx",
            "child_branch": f"ccs-child/s/comp_{n}", "design": "d" * pad,
            "implementation": "i.py", "test": "t.py", "allow": []}


def test_300_entries_make_two_chunks_in_order() -> None:
    entries = [entry(n) for n in range(300)]

    chunks = plan_chunks(entries, fixed_chars=500)

    assert [len(c) for c in chunks] == [256, 44]
    assert [e for c in chunks for e in c] == entries


def test_large_entries_split_on_characters_and_every_dispatch_fits() -> None:
    entries = [entry(n, pad=2_000) for n in range(60)]
    config = compact({"coder": {"command": ["x"] * 3000, "timeout": 1}})
    fixed = fixed_input_chars("s1", "ccs/ctx-s1", "https://ccs.example", "component", config)

    chunks = plan_chunks(entries, fixed)

    assert len(chunks) > 1 and sum(len(c) for c in chunks) == 60
    for chunk in chunks:
        inputs = dispatch_inputs("s1", "ccs/ctx-s1", "https://ccs.example", "component",
                                 config, chunk)
        assert sum(len(v) for v in inputs.values()) <= MAX_INPUT_CHARS
    # Splits are greedy: adding the next entry to a chunk would have overflowed.
    first, second = chunks[0], chunks[1]
    assert fixed + len(matrix_input([*first, second[0]])) > MAX_INPUT_CHARS


def test_an_entry_too_big_on_its_own_is_refused() -> None:
    with pytest.raises(DispatchTooLarge, match="comp_0"):
        plan_chunks([entry(0, pad=70_000)], fixed_chars=10)
    with pytest.raises(DispatchTooLarge, match="config alone"):
        plan_chunks([entry(0)], fixed_chars=MAX_INPUT_CHARS)


def test_no_entries_no_chunks() -> None:
    assert plan_chunks([], fixed_chars=100) == []


def test_component_entry_has_the_wire_fields() -> None:
    child = SimpleNamespace(id="abc", component="isbn", branch="ccs-child/s/isbn", spec={
        "context": "catalog", "name": "isbn", "priority": 1, "design": "d.md",
        "implementation": "src/isbn.py", "test": "tests/test_isbn.py", "allow": ["x.py"]})

    assert component_entry(child) == {
        "child": "abc", "component": "isbn", "context": "catalog",
        "child_branch": "ccs-child/s/isbn", "design": "d.md",
        "implementation": "src/isbn.py", "test": "tests/test_isbn.py", "allow": ["x.py"]}


def test_a_resumed_integration_send_gets_verify_as_its_test_for_its_rounds() -> None:
    import json

    from service.adapters.github.executor import integration_config_json

    session = json.dumps({"setup": None, "coder": {"command": ["c"], "timeout": 1},
                          "test": {"command": ["t"], "timeout": 1},
                          "verify": {"command": ["v"], "timeout": 2}, "attempts": 3})
    body = json.loads(integration_config_json(session, {"rounds": 2}))
    assert body["test"] == {"command": ["v"], "timeout": 2} and body["attempts"] == 2
