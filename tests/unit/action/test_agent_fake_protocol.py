"""The fake agent CLIs follow their file-block protocol and print usage the real way.

The protocol is in tests/fakes/agents/README.md.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.fakes.fake_agents import (
    CART,
    FAILING_OUTPUT,
    FAKE_AGENTS_DIR,
    KEY_VALUE,
    PROGRAMS,
    SIGNED_IN,
    fake_agent_env,
    make_checkout,
    read_agent_log,
    render_prompt,
    run_fake,
    run_headless,
)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """Return an empty git checkout."""
    return make_checkout(tmp_path)


@pytest.mark.parametrize("program", PROGRAMS)
def test_signed_in_fake_writes_listed_files_only_and_logs_the_key_length(
    program: str, checkout: Path
) -> None:
    result = run_headless(program, checkout, render_prompt())
    [call] = read_agent_log(checkout.parent)
    assert result.returncode == 0, result.stderr
    assert (checkout / CART).read_text() == "FIRST = True\n"
    assert not (checkout / "src/shop/secret.py").exists()
    assert call["refused"] == {"src/shop/secret.py": "the prompt does not list it as a file "
                                                     "to write or change"}
    assert call["written"] == [CART] and call["feedback"] is False
    assert call["prompt"] == render_prompt()
    assert any(entry == {"present": True, "length": len(KEY_VALUE)}
               for entry in call["keys"].values())
    assert KEY_VALUE not in json.dumps(call)


@pytest.mark.parametrize("program", PROGRAMS)
def test_feedback_block_is_used_only_when_the_prompt_carries_failing_tests(
    program: str, checkout: Path
) -> None:
    run_headless(program, checkout, render_prompt(feedback=FAILING_OUTPUT))
    [call] = read_agent_log(checkout.parent)
    assert (checkout / CART).read_text() == "FIXED = True\n"
    assert call["feedback"] is True


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside.py", ".git/hooks/pre-commit"])
def test_unsafe_paths_are_never_written(path: str, checkout: Path) -> None:
    design = f"```python file={path}\nBAD = True\n```\n"
    run_headless("claude", checkout, f"{design}\nFiles: {path}\n")
    [call] = read_agent_log(checkout.parent)
    assert call["written"] == [] and path in call["refused"]
    assert not (checkout.parent / "outside.py").exists()
    assert not (checkout / ".git/hooks/pre-commit").exists()


def test_usage_is_printed_in_each_real_format(checkout: Path) -> None:
    outputs = {}
    for program in PROGRAMS:
        outputs[program] = run_headless(program, checkout, render_prompt(),
                                        CCS_FAKE_AGENT_COST="0.37").stdout
    claude = json.loads(outputs["claude"])
    codex = [json.loads(line) for line in outputs["codex"].splitlines()]
    gemini = json.loads(outputs["gemini"])
    openhands = [json.loads(line) for line in outputs["openhands"].splitlines()]
    stats = next(event for event in openhands if event.get("key") == "stats")
    assert claude["total_cost_usd"] == 0.37 and claude["usage"]["input_tokens"] > 0
    assert codex[-1]["type"] == "turn.completed" and codex[-1]["usage"]["output_tokens"] > 0
    assert next(iter(gemini["stats"]["models"].values()))["tokens"]["total"] > 0
    assert re.search(r"^Tokens: \S+ sent, \S+ received\. Cost: \$0\.37 message, \$0\.37 "
                     r"session\.$", outputs["aider"], re.MULTILINE)
    assert stats["value"]["usage_to_metrics"]["agent"]["accumulated_cost"] == 0.37


@pytest.mark.parametrize(
    ("program", "args"),
    [
        ("claude", ["-p", "--output-format", "json"]),  # no edit permission
        ("claude", ["-p", "--output-format", "json", "--permission-mode", "plan"]),
        ("codex", ["exec", "--json", "-"]),  # read-only sandbox by default
        ("codex", ["exec", "--json", "-s", "read-only", "-"]),
    ],
)
def test_without_edit_permission_nothing_is_written(
    program: str, args: list[str], checkout: Path
) -> None:
    env = fake_agent_env(checkout.parent, **SIGNED_IN[program])
    result = run_fake(program, args, cwd=checkout, env=env, stdin=render_prompt())
    [call] = read_agent_log(checkout.parent)
    assert result.returncode == 0
    assert call["written"] == [] and CART in call["refused"]
    assert not (checkout / CART).exists()


def test_codex_sandbox_from_config_override_may_write(checkout: Path) -> None:
    env = fake_agent_env(checkout.parent, **SIGNED_IN["codex"])
    run_fake("codex", ["exec", "-c", 'sandbox_mode="workspace-write"', "-"], cwd=checkout,
             env=env, stdin=render_prompt())
    assert (checkout / CART).exists()


def test_aider_reads_a_short_message_file_flag_and_needs_yes_for_files_outside_the_chat(
    checkout: Path,
) -> None:
    prompt_file = checkout.parent / "prompt.md"
    prompt_file.write_text(render_prompt())
    env = fake_agent_env(checkout.parent, **SIGNED_IN["aider"])
    run_fake("aider", ["-f", str(prompt_file), "--no-auto-commits"], cwd=checkout, env=env)
    [call] = read_agent_log(checkout.parent)
    assert call["prompt"] == render_prompt()
    assert call["refused"][CART].startswith("not in the chat")


def test_aider_edits_gitignore_and_commits_unless_told_not_to(checkout: Path) -> None:
    prompt_file = checkout.parent / "prompt.md"
    prompt_file.write_text(render_prompt())
    env = fake_agent_env(checkout.parent, **SIGNED_IN["aider"], GIT_AUTHOR_NAME="t")
    run_fake("aider", ["--message-file", str(prompt_file), CART], cwd=checkout, env=env)
    log = subprocess.run(["git", "log", "--name-only", "--format=%s"], cwd=checkout,
                         capture_output=True, text=True, check=True).stdout
    assert (checkout / ".gitignore").read_text() == ".aider*\n"
    assert CART in log.splitlines()


def test_aider_with_a_model_needs_that_models_key(checkout: Path) -> None:
    env = fake_agent_env(checkout.parent, **SIGNED_IN["aider"])  # an Anthropic key only
    result = run_fake("aider", ["--model", "gpt-4o", "--message", "hi", "--no-gitignore"],
                      cwd=checkout, env=env)
    assert result.returncode == 1
    assert "- OPENAI_API_KEY: Not set" in result.stderr


@pytest.mark.parametrize("cost", ["cheap", "-1"])
def test_bad_fake_cost_is_an_error_that_says_what_to_set(cost: str, checkout: Path) -> None:
    result = run_headless("claude", checkout, render_prompt(), CCS_FAKE_AGENT_COST=cost)
    assert result.returncode == 2
    assert "CCS_FAKE_AGENT_COST must" in result.stderr


def test_claude_over_its_budget_cap_writes_nothing_and_says_so(checkout: Path) -> None:
    env = fake_agent_env(checkout.parent, **SIGNED_IN["claude"], CCS_FAKE_AGENT_COST="0.5")
    result = run_fake("claude", ["-p", "--output-format", "json", "--permission-mode",
                                 "acceptEdits", "--max-budget-usd", "0.25"],
                      cwd=checkout, env=env, stdin=render_prompt())
    assert result.returncode == 1
    assert json.loads(result.stdout)["subtype"] == "error_max_budget_usd"
    assert not (checkout / CART).exists()


def test_fake_waits_for_the_marker_file_before_it_exits(checkout: Path) -> None:
    marker = checkout.parent / "release"
    env = fake_agent_env(checkout.parent, **SIGNED_IN["claude"],
                         CCS_FAKE_AGENT_WAIT_FOR=str(marker))
    agent = subprocess.Popen([str(FAKE_AGENTS_DIR / "claude"), "-p", "hi"], cwd=checkout,
                             env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             text=True)
    try:
        first_line = agent.stdout.readline()  # printed before it starts waiting
        assert first_line == "Wrote nothing.\n" and agent.poll() is None
        marker.touch()
        assert agent.wait(timeout=30) == 0
    finally:
        agent.kill()
        agent.communicate()
