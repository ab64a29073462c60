"""The job summary shows what the coder spent, when it spent anything."""

from __future__ import annotations

from action.job import summary_markdown
from action.report import RunResult, empty_counts


def result(usage: dict) -> RunResult:
    """Return a finished result with `usage`."""
    return RunResult("succeeded", "ab" * 20, "ccs-a-1-b", 2, empty_counts(), [],
                     "tests passed on attempt 2 of 3: 5 passed", component="hasher",
                     usage=usage)


def test_the_summary_shows_cost_and_tokens() -> None:
    text = summary_markdown(result({"cost_usd": 0.374, "input_tokens": 5100,
                                    "output_tokens": 900}))
    assert "Usage: $0.37, 5100 input and 900 output tokens\n" in text


def test_the_summary_says_nothing_of_usage_when_nothing_was_spent() -> None:
    assert "Usage" not in summary_markdown(result({}))
    assert "Usage" not in summary_markdown(result({"cost_usd": 0.0}))
