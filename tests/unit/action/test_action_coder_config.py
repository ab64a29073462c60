"""config.coder in both shapes (DESIGN §3a): a command or an agent preset, checked."""

from __future__ import annotations

import pytest

from action.spec import CoderConfig, InputError, parse_component_entry, parse_config

TEST = {"command": ["pytest"], "timeout": 60}
ENTRY = {"child": "c1", "component": "hasher", "context": "accounts",
         "child_branch": "ccs-accounts-1-hasher", "design": "docs/hasher.md",
         "implementation": "src/hasher.py", "test": "tests/test_hasher.py"}


def coder(**fields: object) -> CoderConfig | None:
    """Parse a config whose coder has `fields` and return the coder."""
    return parse_config({"coder": fields, "test": TEST, "attempts": 2}).coder


def test_a_command_coder_is_parsed_as_before() -> None:
    parsed = coder(command=["python", "tools/coder.py"], timeout=30)
    assert parsed == CoderConfig(("python", "tools/coder.py"), 30.0)
    assert parsed.agent is None and parsed.budget_usd is None


def test_an_agent_coder_carries_every_section_3a_field() -> None:
    parsed = coder(agent="claude", model="claude-sonnet-4-5", prompt=".github/ccs/prompt.md",
                   max_turns=40, budget_usd=2, env=["ANTHROPIC_API_KEY"], timeout=1800)
    assert parsed == CoderConfig((), 1800.0, agent="claude", model="claude-sonnet-4-5",
                                 prompt=".github/ccs/prompt.md", max_turns=40,
                                 budget_usd=2.0, env=("ANTHROPIC_API_KEY",))


def test_null_fields_count_as_absent() -> None:
    parsed = coder(command=None, agent="codex", model=None, prompt=None, max_turns=None,
                   budget_usd=None, env=None)
    assert parsed == CoderConfig((), 600.0, agent="codex")
    assert coder(command=["x"], agent=None).argv == ("x",)


def test_a_command_coder_may_have_a_prompt_and_a_budget() -> None:
    parsed = coder(command=["tools/coder"], prompt="p.md", budget_usd=0.5)
    assert parsed.prompt == "p.md" and parsed.budget_usd == 0.5


@pytest.mark.parametrize(("fields", "complaint"), [
    ({"command": ["x"], "agent": "claude"}, "exactly one of 'command'"),
    ({"timeout": 10}, "exactly one of 'command'"),
    ({"agent": "cursor"}, "coder.agent 'cursor' is not a known agent; use one of aider, "
                          "claude, codex, gemini, openhands"),
    ({"agent": "claude", "budget_usd": -1}, "coder.budget_usd must be a positive number"),
    ({"agent": "claude", "budget_usd": 0}, "coder.budget_usd must be a positive number"),
    ({"agent": "claude", "budget_usd": True}, "coder.budget_usd must be a positive number"),
    ({"agent": "claude", "max_turns": 0}, "coder.max_turns must be a positive integer"),
    ({"agent": "claude", "model": " "}, "coder.model must be a non-empty string"),
    ({"agent": "claude", "prompt": "../outside.md"}, "must be a relative path inside"),
    ({"agent": "claude", "prompt": "/etc/passwd"}, "must be a relative path inside"),
    ({"agent": "claude", "prompt": ".git/hooks/x"}, "not under .git/"),
    ({"agent": "claude", "env": ["ANTHROPIC_API_KEY=sk-123"]}, "never values"),
    ({"agent": "claude", "env": "ANTHROPIC_API_KEY"}, "coder.env must be a list"),
    ({"command": ["x"], "model": "m"}, "coder.model applies only to an agent coder"),
    ({"command": ["x"], "max_turns": 3}, "coder.max_turns applies only to an agent coder"),
    ({"command": []}, "coder.command must be a non-empty list"),
])
def test_bad_coder_fields_are_rejected_naming_the_field(fields, complaint) -> None:
    with pytest.raises(InputError, match="config: ") as raised:
        coder(**fields)
    assert complaint in str(raised.value)


def test_entry_description_is_optional_and_must_be_text() -> None:
    assert parse_component_entry(ENTRY).description == ""
    described = parse_component_entry({**ENTRY, "description": "Users and credentials"})
    assert described.description == "Users and credentials"
    with pytest.raises(InputError, match="'description' must be a string"):
        parse_component_entry({**ENTRY, "description": 5})
