"""Agent presets: each one's argv for a typical run, and its usage parser on real outputs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from action.agents import PRESETS, AgentRun, preset
from action.agents.gemini import MAX_PROMPT_ARG_BYTES
from action.usage import USAGE_KEYS

DATA = Path(__file__).resolve().parents[2] / "data" / "agents"
PROMPT = "Implement src/accounts/hashing.py.\nRun: python -m pytest -q {test} --x=${y}\n"
RUN = AgentRun(prompt_text=PROMPT, prompt_path="/tmp/ccs-run-1/attempt-2-prompt.md",
               checkout="/tmp/work/ccs-checkout", model="the-model", max_turns=40,
               budget_usd=1.5, files=("src/accounts/hashing.py", "tests/test_h.py"),
               read_files=("docs/hasher.md",))


def output(name: str) -> str:
    """Return a recorded agent output from tests/data/agents."""
    return (DATA / name).read_text(encoding="utf-8")


def test_registry_names_every_preset_by_its_own_name() -> None:
    assert sorted(PRESETS) == ["aider", "claude", "codex", "gemini", "openhands"]
    for name, agent in PRESETS.items():
        assert agent.name == name and preset(name) is agent
        assert agent.invocation(RUN).argv[0] == agent.program
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", agent.secret)
        # A pinned version, and nothing a shell would have to interpret.
        assert re.search(r"(==|@)\d+\.\d+\.\d+$", agent.install), agent.install
        assert not set(agent.install) & set("|;&$`<>")


def test_an_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown agent 'cursor': use one of aider, claude, "
                                         "codex, gemini, openhands"):
        preset("cursor")


def test_claude_reads_the_prompt_on_stdin_and_gets_model_turns_and_the_remaining_budget():
    invocation = preset("claude").invocation(RUN)
    assert invocation.argv == (
        "claude", "-p", "--output-format", "json", "--permission-mode", "acceptEdits",
        "--allowedTools", "Bash,Read,Edit,Write,Glob,Grep",
        "--disallowedTools", "Bash(git commit *),Bash(git push *)",
        "--model", "the-model", "--max-turns", "40", "--max-budget-usd", "1.5")
    assert invocation.stdin == PROMPT and invocation.env == {}
    # Refused when run as root, as CI does.
    assert "--dangerously-skip-permissions" not in invocation.argv
    assert "bypassPermissions" not in invocation.argv


def test_claude_without_options_passes_no_limits_and_rounds_a_cap_down() -> None:
    bare = AgentRun(PROMPT, "/tmp/p.md", "/tmp/c")
    assert preset("claude").invocation(bare).argv[-2:] == (
        "--disallowedTools", "Bash(git commit *),Bash(git push *)")
    capped = AgentRun(PROMPT, "/tmp/p.md", "/tmp/c", budget_usd=0.123456)
    assert preset("claude").invocation(capped).argv[-2:] == ("--max-budget-usd", "0.1234")


def test_codex_runs_exec_in_a_writable_sandbox_with_the_prompt_on_stdin() -> None:
    invocation = preset("codex").invocation(RUN)
    assert invocation.argv == ("codex", "exec", "--json", "-s", "workspace-write",
                               "--skip-git-repo-check", "-m", "the-model", "-")
    assert invocation.stdin == PROMPT
    assert "--full-auto" not in invocation.argv


def test_gemini_takes_the_prompt_after_p_and_approves_edits_and_shell_commands() -> None:
    invocation = preset("gemini").invocation(RUN)
    assert invocation.argv == ("gemini", "-p", PROMPT, "--output-format", "json",
                               "--approval-mode", "yolo", "--skip-trust", "-m", "the-model")
    assert invocation.stdin is None


def test_gemini_moves_a_prompt_too_long_for_one_argument_to_stdin() -> None:
    long_prompt = "x" * (MAX_PROMPT_ARG_BYTES + 1)
    invocation = preset("gemini").invocation(AgentRun(long_prompt, "/tmp/p.md", "/tmp/c"))
    assert invocation.stdin == long_prompt
    assert invocation.argv[1:3] == ("-p", "Carry out the task described in the text above.")


def test_aider_gets_the_prompt_file_its_files_and_never_commits() -> None:
    invocation = preset("aider").invocation(RUN)
    assert invocation.argv == (
        "aider", "--message-file", RUN.prompt_path, "--yes-always", "--no-auto-commits",
        "--no-dirty-commits", "--no-gitignore",
        "--chat-history-file", "/tmp/ccs-run-1/aider.chat.history.md",
        "--input-history-file", "/tmp/ccs-run-1/aider.input.history",
        "--no-check-update", "--no-pretty", "--no-show-model-warnings", "--no-analytics",
        "--model", "the-model",
        "--read", "docs/hasher.md", "src/accounts/hashing.py", "tests/test_h.py")
    assert invocation.stdin is None


def test_openhands_reads_the_prompt_file_and_takes_the_model_from_llm_model() -> None:
    invocation = preset("openhands").invocation(RUN)
    assert invocation.argv == ("openhands", "--headless", "-f", RUN.prompt_path, "--json",
                               "--override-with-envs")
    assert invocation.env == {"LLM_MODEL": "the-model"}
    assert preset("openhands").invocation(AgentRun(PROMPT, "/p", "/c")).env == {}


@pytest.mark.parametrize(("agent", "recorded", "expected"), [
    # Input counts the cache writes and reads: 38 + 12840 + 96512.
    ("claude", "claude-success.json",
     {"cost_usd": 0.18734, "input_tokens": 109390, "output_tokens": 2917}),
    ("claude", "claude-max-budget.json",
     {"cost_usd": 0.50213, "input_tokens": 70145, "output_tokens": 1688}),
    ("claude", "claude-signin.json", {"cost_usd": 0.0}),
    # Two turns summed; cached input is inside input_tokens already.
    ("codex", "codex-success.jsonl", {"input_tokens": 32794, "output_tokens": 1997}),
    # Two models summed; thoughts count as output: 20 + 154 + 412.
    ("gemini", "gemini-success.json", {"input_tokens": 33244, "output_tokens": 586}),
    ("gemini", "gemini-signin.json", {}),
    # Tokens summed over replies; the cost is aider's own session total.
    ("aider", "aider-success.txt",
     {"cost_usd": 0.05, "input_tokens": 7200, "output_tokens": 1742}),
    ("openhands", "openhands-events.jsonl", {}),
    # The last (accumulated) figures win.
    ("openhands", "openhands-metrics.jsonl",
     {"cost_usd": 0.0957, "input_tokens": 23811, "output_tokens": 1544}),
])
def test_usage_is_read_from_recorded_output(agent, recorded, expected) -> None:
    assert preset(agent).usage(output(recorded)) == expected


def test_claude_usage_is_found_after_log_lines_and_in_a_stream() -> None:
    noisy = "warning: something\n" + output("claude-success.json")
    assert preset("claude").usage(noisy)["cost_usd"] == 0.18734


ODD_OUTPUTS = ["", "   \n", "not json at all", "{", "[1, 2]", "null", "42", '"text"',
               '{"type": "result", "usage": [], "total_cost_usd": "lots"}',
               '{"type": "result", "usage": {"input_tokens": -5, "output_tokens": 1e400}}',
               '{"type": "turn.completed", "usage": {"input_tokens": "many"}}',
               '{"stats": {"models": {"m": 5, "n": {"tokens": [1]}}}}',
               '{"stats": []}', "Tokens: k sent, M received. Cost: $. message",
               '{"accumulated_cost": null, "accumulated_token_usage": "x"}',
               "[" * 5000 + "]" * 5000, "\x00\xff\ufffd" * 100]


@pytest.mark.parametrize("agent", sorted(PRESETS))
@pytest.mark.parametrize("odd", ODD_OUTPUTS)
def test_usage_parsers_never_raise_and_report_only_sane_figures(agent, odd) -> None:
    usage = preset(agent).usage(odd)
    assert set(usage) <= set(USAGE_KEYS)
    assert all(isinstance(value, int | float) and 0 <= value < float("inf")
               for value in usage.values())
