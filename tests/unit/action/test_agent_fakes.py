"""The fake agent CLIs behave like the pinned real ones where a preset can tell.

Real behaviour comes from the recordings in tests/data/agents/ (tests/fakes/real_agents.py
made them); the fakes' protocol is in tests/fakes/agents/README.md.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest

from tests.fakes.fake_agents import (
    FAKE_AGENTS_DIR,
    PROGRAMS,
    fake_agent_env,
    read_agent_log,
    run_fake,
)
from tests.fakes.real_agents import recording

CART = "src/shop/cart.py"
FAILING_OUTPUT = "FAILED tests/shop/test_cart.py::test_total - assert 3 == 5\n1 failed in 0.01s\n"
DESIGN = (
    "# Cart\n\nTotals the items.\n\n"
    f"```python file={CART}\nFIRST = True\n```\n\n"
    f"```python file={CART} when=feedback\nFIXED = True\n```\n\n"
    "```python file=src/shop/secret.py\nLEAK = True\n```\n"
)
KEY_VALUE = "fake-key-value-0123456789"
# The key each fake is given in tests that need it signed in.
SIGNED_IN = {
    "claude": {"ANTHROPIC_API_KEY": KEY_VALUE},
    "codex": {"OPENAI_API_KEY": KEY_VALUE},
    "gemini": {"GEMINI_API_KEY": KEY_VALUE},
    "aider": {"ANTHROPIC_API_KEY": KEY_VALUE},
    "openhands": {"LLM_API_KEY": KEY_VALUE, "LLM_MODEL": "anthropic/claude-sonnet-4-5"},
}
# How each parser names an unknown option (the line compared with the real CLI's).
ERROR_LINE = {
    "claude": r"^error: unknown option",
    "codex": r"^error: unexpected argument",
    "gemini": r"^Unknown argument",
    "aider": r"^aider: error: unrecognized arguments",
    "openhands": r"^openhands: error: unrecognized arguments",
}


def render_prompt(*, feedback: str = "", listed: tuple[str, ...] = (CART,)) -> str:
    """Render a prompt shaped like the built-in template: design, files, feedback."""
    files = "\n".join(f"- {path}" for path in listed)
    tail = f"\n## Failing tests\n\n```\n{feedback}```\n" if feedback else ""
    return f"## Design\n\n{DESIGN}\n## Files you may write\n\n{files}\n{tail}"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """Return an empty git checkout."""
    root = tmp_path / "work"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def headless_args(program: str, prompt_file: Path) -> tuple[list[str], bool]:
    """Return the args of a run that may edit, and whether the prompt goes on stdin."""
    return {
        "claude": (["-p", "--output-format", "json", "--permission-mode", "acceptEdits"], True),
        "codex": (["exec", "--json", "-s", "workspace-write", "-"], True),
        "gemini": (["--output-format", "json", "--approval-mode", "auto_edit", "--skip-trust"],
                   True),
        "aider": (["--message-file", str(prompt_file), "--yes-always", "--no-auto-commits",
                   "--no-gitignore"], False),
        "openhands": (["--headless", "-f", str(prompt_file), "--json", "--override-with-envs"],
                      False),
    }[program]


def run_headless(program: str, checkout: Path, prompt: str, **variables: str):
    """Run `program` signed in, editing allowed, with `prompt`; return the process."""
    prompt_file = checkout.parent / "prompt.md"
    prompt_file.write_text(prompt)
    args, on_stdin = headless_args(program, prompt_file)
    env = fake_agent_env(checkout.parent, **SIGNED_IN[program], **variables)
    return run_fake(program, args, cwd=checkout, env=env, stdin=prompt if on_stdin else None)


def error_line(program: str, text: str) -> str:
    """Return the line of `text` where `program`'s parser names an unknown option."""
    return next(line for line in text.splitlines() if re.search(ERROR_LINE[program], line))


@pytest.mark.parametrize("program", PROGRAMS)
def test_unknown_option_is_rejected_like_the_real_cli(program: str, checkout: Path) -> None:
    real = recording(program, "unknown_option")
    argv = [str(arg).replace("$PROMPT", str(checkout)) for arg in real["argv"][1:]]
    fake = run_fake(program, argv, cwd=checkout, env=fake_agent_env(checkout.parent))
    assert fake.returncode == real["exit_code"]
    assert error_line(program, fake.stderr) == error_line(program, str(real["stderr"]))
    assert read_agent_log(checkout.parent) == []


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_fake_option_is_in_the_real_help(program: str) -> None:
    loader = SourceFileLoader(f"fake_{program}", str(FAKE_AGENTS_DIR / program))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    real_help = str(recording(program, "help")["stdout"])
    hidden = {"--max-turns"}  # claude accepts it; its --help does not list it (agents.md)
    names = {name for option in module.OPTIONS for name in option.names} - hidden
    undocumented = {
        name for name in names if not re.search(rf"(?<![\w-]){name}(?![\w-])", real_help)
    }
    assert undocumented == set()


@pytest.mark.parametrize("case", ["root_skip_permissions", "root_bypass_permissions",
                                  "stream_json_without_verbose"])
def test_claude_refuses_what_the_real_one_refuses(case: str, checkout: Path) -> None:
    real = recording("claude", case)
    if case.startswith("root") and os.geteuid() != 0:
        pytest.skip("the refusal applies to root; this test runs as another user")
    env = fake_agent_env(checkout.parent, **SIGNED_IN["claude"])
    fake = run_fake("claude", list(real["argv"][1:]), cwd=checkout, env=env)
    assert (fake.returncode, fake.stderr.strip()) == (real["exit_code"], real["stderr"].strip())


def test_claude_without_a_key_prints_the_real_sign_in_result(checkout: Path) -> None:
    real = recording("claude", "signin")
    fake = run_fake("claude", list(real["argv"][1:]), cwd=checkout,
                    env=fake_agent_env(checkout.parent), stdin=str(real["stdin"]))
    fields = ("type", "subtype", "is_error", "result", "total_cost_usd")
    real_result, fake_result = json.loads(str(real["stdout"])), json.loads(fake.stdout)
    assert fake.returncode == real["exit_code"] == 1
    assert {k: fake_result[k] for k in fields} == {k: real_result[k] for k in fields}
    assert fake_result["usage"]["output_tokens"] == real_result["usage"]["output_tokens"] == 0


def test_gemini_without_a_key_prints_the_real_auth_error_on_stderr(checkout: Path) -> None:
    real = recording("gemini", "signin")
    fake = run_fake("gemini", list(real["argv"][1:]), cwd=checkout,
                    env=fake_agent_env(checkout.parent, HOME=str(checkout.parent / "home")))
    real_error = json.loads(str(real["stderr"]))["error"]
    fake_error = json.loads(fake.stderr)["error"]
    assert (fake.returncode, fake.stdout) == (real["exit_code"], real["stdout"]) == (41, "")
    assert fake_error == {**real_error, "message": real_error["message"].replace(
        "$TMP", str(checkout.parent))}


def test_gemini_without_trust_falls_back_to_default_approval_and_edits_nothing(
    checkout: Path,
) -> None:
    real = recording("gemini", "untrusted")
    env = fake_agent_env(checkout.parent, **SIGNED_IN["gemini"])
    fake = run_fake("gemini", ["-p", render_prompt(), "--output-format", "json",
                               "--approval-mode", "yolo"], cwd=checkout, env=env)
    overridden = (
        'Approval mode overridden to "default" because the current folder is not trusted.'
    )
    assert overridden in fake.stderr.splitlines() and overridden in str(real["stderr"])
    assert not (checkout / CART).exists()
    assert read_agent_log(checkout.parent)[0]["approval_mode"] == "default"


@pytest.mark.parametrize(
    ("program", "case", "marker"),
    [
        ("aider", "signin", "No LLM model was specified and no API keys were provided."),
        ("openhands", "signin", "Headless mode requires existing settings."),
        ("openhands", "signin_envs", "Error: Missing required environment variable(s): "
                                     "LLM_API_KEY, LLM_MODEL"),
    ],
)
def test_text_clis_without_a_key_say_what_the_real_one_says(
    program: str, case: str, marker: str, checkout: Path
) -> None:
    real = recording(program, case)
    prompt_file = checkout.parent / "prompt.md"
    prompt_file.write_text(render_prompt())
    argv = [str(prompt_file) if arg == "$PROMPT" else arg for arg in real["argv"][1:]]
    fake = run_fake(program, argv, cwd=checkout, env=fake_agent_env(checkout.parent))
    assert marker in (fake.stdout + fake.stderr).splitlines()
    assert marker in str(real["stdout"]).splitlines()
    # aider really waits for a browser sign-in (killed at the timeout); the fake stops at once.
    assert fake.returncode == (1 if real["exit_code"] is None else real["exit_code"])
    assert not (checkout / CART).exists()


def test_codex_without_a_key_fails_the_turn_after_starting_the_thread(checkout: Path) -> None:
    real = recording("codex", "signin")
    fake = run_fake("codex", list(real["argv"][1:]), cwd=checkout,
                    env=fake_agent_env(checkout.parent), stdin=str(real["stdin"]))
    types = [json.loads(line)["type"] for line in fake.stdout.splitlines()]
    real_first = json.loads(str(real["stdout"]).splitlines()[0])["type"]
    assert (fake.returncode, types[0], types[-1]) == (1, real_first, "turn.failed")


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


def test_claude_prompt_after_a_many_valued_flag_is_swallowed(checkout: Path) -> None:
    env = fake_agent_env(checkout.parent, **SIGNED_IN["claude"])
    result = run_fake("claude", ["-p", "--allowedTools", "Edit", "Write", render_prompt()],
                      cwd=checkout, env=env)
    assert result.returncode == 1
    assert "Input must be provided either through stdin or as a prompt argument" in result.stderr


@pytest.mark.parametrize(
    ("program", "args", "stdin", "expected"),
    [
        ("claude", ["-p", "from argument"], None, "from argument"),
        ("claude", ["-p"], "from stdin", "from stdin"),
        ("codex", ["exec", "--skip-git-repo-check", "-"], "from stdin", "from stdin"),
        ("codex", ["exec", "task"], "extra", "task\n\n<stdin>\nextra\n</stdin>"),
        ("gemini", ["-p", "task"], "context", "context\n\ntask"),
        ("aider", ["--message", "from message"], None, "from message"),
        ("openhands", ["--headless", "-t", "from task", "--override-with-envs"], None,
         "from task"),
    ],
)
def test_prompt_is_read_the_way_the_real_cli_reads_it(
    program: str, args: list[str], stdin: str | None, expected: str, checkout: Path
) -> None:
    env = fake_agent_env(checkout.parent, **SIGNED_IN[program])
    result = run_fake(program, args, cwd=checkout, env=env, stdin=stdin)
    [call] = read_agent_log(checkout.parent)
    assert result.returncode == 0, result.stderr
    assert call["prompt"] == expected


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
