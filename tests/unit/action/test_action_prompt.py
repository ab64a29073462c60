"""The prompt: the built-in template, custom templates, unknown names, feedback trimming."""

from __future__ import annotations

import pytest

from action.prompt import (
    FEEDBACK_LIMIT,
    TEMPLATE_NAMES,
    prompt_values,
    render,
    render_builtin,
    trim_feedback,
    unknown_names,
)

DESIGN = "# Password hasher\n\nHash with scrypt; `verify(password, digest) -> bool`.\n"


def values(attempt: int = 1, feedback: str = "", **overrides: object) -> dict[str, str]:
    """Return the template values of a typical component."""
    fields = dict(context="accounts", description="Users and credentials",
                  component="password_hasher", design="docs/accounts/hasher.md",
                  design_text=DESIGN, implementation="src/accounts/hashing.py",
                  test="tests/accounts/test_hasher.py",
                  allowed=["docs/accounts/hasher.md", "src/accounts/hashing.py",
                           "tests/accounts/test_hasher.py", "src/accounts/__init__.py"],
                  test_command="python -m pytest -q tests/accounts/test_hasher.py",
                  attempt=attempt, attempts=3, feedback=feedback)
    fields.update(overrides)
    return prompt_values(**fields)


def test_values_cover_exactly_the_template_names() -> None:
    assert set(values()) == set(TEMPLATE_NAMES)


def test_builtin_prompt_holds_the_design_the_paths_the_rules_and_the_test_command() -> None:
    text = render_builtin(values())
    assert DESIGN in text
    assert "Users and credentials" in text
    assert "Write the implementation in `src/accounts/hashing.py`" in text
    assert "Make the tests in `tests/accounts/test_hasher.py` pass" in text
    assert "  - src/accounts/__init__.py\n" in text
    assert "Change nothing else" in text
    assert "Do not commit, stage, stash, branch or push" in text
    assert "       python -m pytest -q tests/accounts/test_hasher.py\n" in text
    assert "This is attempt 1 of 3." in text
    assert "$" not in text  # every name was filled in


def test_builtin_prompt_has_no_feedback_section_on_attempt_one() -> None:
    assert "previous attempt" not in render_builtin(values())


def test_builtin_prompt_carries_the_feedback_from_attempt_two() -> None:
    feedback = "FAILED tests/accounts/test_hasher.py::test_verify - AssertionError: False"
    text = render_builtin(values(attempt=2, feedback=feedback))
    assert "## Why the previous attempt failed" in text
    assert f"<feedback>\n{feedback}\n</feedback>" in text
    assert "This is attempt 2 of 3." in text


def test_an_empty_description_leaves_no_gap() -> None:
    assert "\n\n\n" not in render_builtin(values(description=""))


def test_text_that_looks_like_a_name_is_never_substituted_twice() -> None:
    text = render_builtin(values(design_text="Use ${component} and $attempt literally."))
    assert "Use ${component} and $attempt literally." in text


def test_custom_template_uses_the_names_and_leaves_unknown_ones_as_written() -> None:
    template = "Do ${context}.$component (attempt ${attempt}/${attempts}); ${ticket} $$5\n"
    assert render(template, values()) == (
        "Do accounts.password_hasher (attempt 1/3); ${ticket} $5\n")
    assert unknown_names(template) == ["ticket"]


def test_unknown_names_are_reported_once_each_and_known_ones_never() -> None:
    template = " ".join(f"${{{name}}}" for name in TEMPLATE_NAMES)
    assert unknown_names(template) == []
    assert unknown_names("$a ${b} $a $$c $ 5 ${design}") == ["a", "b"]


def test_short_feedback_is_kept_whole() -> None:
    assert trim_feedback("1 failed\n") == "1 failed\n"


def pytest_output(passing: int) -> str:
    """Return a long test output whose failure is in the middle, not at either end."""
    noise = [f"tests/test_many.py::test_case_{n} PASSED" for n in range(passing)]
    middle = ["FAILED tests/accounts/test_hasher.py::test_verify_rejects_a_wrong_password",
              "E       assert verify('wrong', digest) is False",
              "E       AssertionError: verify accepted a wrong password"]
    half = len(noise) // 2
    return "\n".join(["===== test session starts =====", *noise[:half], *middle,
                      *noise[half:], f"===== 1 failed, {passing} passed ====="]) + "\n"


@pytest.mark.parametrize("passing", [2_000, 50_000])
def test_long_feedback_is_trimmed_and_keeps_the_failures_names_and_messages(passing) -> None:
    output = pytest_output(passing)
    trimmed = trim_feedback(output)
    assert len(output) > 5 * FEEDBACK_LIMIT
    assert len(trimmed) <= FEEDBACK_LIMIT
    assert "FAILED tests/accounts/test_hasher.py::test_verify_rejects_a_wrong_password" in trimmed
    assert "AssertionError: verify accepted a wrong password" in trimmed
    assert "assert verify('wrong', digest) is False" in trimmed
    assert "===== test session starts =====" in trimmed  # the head
    assert f"1 failed, {passing} passed" in trimmed  # the tail
    assert "characters cut" in trimmed


def test_feedback_made_only_of_key_lines_still_fits() -> None:
    output = "\n".join(f"FAILED tests/t.py::test_{n} - AssertionError: {'x' * 900}"
                       for n in range(500))
    trimmed = trim_feedback(output)
    assert len(trimmed) <= FEEDBACK_LIMIT
    assert "FAILED tests/t.py::test_0 - AssertionError" in trimmed
    assert "more such lines" in trimmed
