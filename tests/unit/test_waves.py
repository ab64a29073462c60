"""The pure wave rules (DESIGN §3b): cycles, waves, who is ready, who to cancel."""

from __future__ import annotations

import pytest

from service.domain.waves import (
    cancel_message,
    dependents,
    describe_cycle,
    find_cycle,
    missing_needs,
    ready_wave,
    to_cancel,
    wave_numbers,
    waves_in_order,
)

# author <- book <- shelf, and a loner that needs nothing.
NEEDS = {"author": [], "book": ["author"], "shelf": ["book"], "loner": []}


def test_waves_follow_the_needs_in_spawn_order() -> None:
    order = ["shelf", "loner", "book", "author"]
    assert waves_in_order(order, NEEDS) == [["loner", "author"], ["book"], ["shelf"]]


def test_a_need_outside_the_session_counts_as_done() -> None:
    # `--only book,shelf`: author is already implemented on the base.
    assert wave_numbers({"book": ["author"], "shelf": ["book"]}) == {"book": 0, "shelf": 1}


def test_a_diamond_waits_for_its_latest_need() -> None:
    needs = {"a": [], "b": ["a"], "c": ["a", "b"], "d": ["c", "a"]}
    assert wave_numbers(needs) == {"a": 0, "b": 1, "c": 2, "d": 3}


def test_a_cycle_is_found_and_spelled_out() -> None:
    needs = {"a": ["b"], "b": ["c"], "c": ["a"], "d": []}
    cycle = find_cycle(needs)
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    assert describe_cycle(["a", "b", "c", "a"]) == "a needs b, b needs c, c needs a"
    with pytest.raises(ValueError, match="a needs b, b needs c, c needs a"):
        wave_numbers(needs)


def test_a_component_that_needs_itself_is_a_cycle() -> None:
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    assert find_cycle(NEEDS) is None


def test_dependents_are_found_transitively_and_only_them() -> None:
    assert dependents(NEEDS, ["author"]) == {"book", "shelf"}
    assert dependents(NEEDS, ["book"]) == {"shelf"}
    assert dependents(NEEDS, ["loner"]) == set()


def test_a_failure_cancels_exactly_the_pending_components_that_need_it() -> None:
    statuses = {"author": "failed", "loner": "succeeded", "book": "pending", "shelf": "pending"}
    assert to_cancel(NEEDS, statuses) == {"book": "author", "shelf": "author"}
    # Nothing failed: nothing to cancel; a cancelled dependent is not cancelled twice.
    assert to_cancel(NEEDS, {**statuses, "author": "succeeded"}) == {}
    assert to_cancel(NEEDS, {**statuses, "book": "cancelled"}) == {"shelf": "author"}


def test_the_next_wave_waits_until_every_earlier_component_rests() -> None:
    waves = wave_numbers(NEEDS)
    fresh = dict.fromkeys(NEEDS, "pending")
    assert ready_wave(waves, fresh) == (0, ["author", "loner"])
    running = {**fresh, "author": "succeeded", "loner": "running"}
    assert ready_wave(waves, running) == (-1, [])
    assert ready_wave(waves, {**running, "loner": "failed"}) == (1, ["book"])
    everything = dict.fromkeys(NEEDS, "succeeded")
    assert ready_wave(waves, everything) == (-1, [])


def test_a_retry_runs_the_failed_component_before_its_dependents() -> None:
    waves = wave_numbers(NEEDS)
    retried = {"author": "pending", "loner": "succeeded", "book": "pending",
               "shelf": "pending"}
    assert ready_wave(waves, retried) == (0, ["author"])


def test_only_needs_to_name_what_is_not_on_the_base() -> None:
    assert missing_needs(NEEDS, ["shelf"], implemented=[]) == {"shelf": ["book"]}
    assert missing_needs(NEEDS, ["shelf", "book"], implemented=["author"]) == {}
    assert missing_needs(NEEDS, ["shelf"], implemented=["book"]) == {}


def test_the_cancel_message_names_the_cause() -> None:
    assert cancel_message("book", "author").startswith("book: cancelled: it needs author")
