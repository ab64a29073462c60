"""The fake agent CLIs parse, refuse and sign in like the pinned real ones.

Real behaviour comes from the recordings in tests/data/agents/ (RECORDINGS.md there); the
fakes' protocol is in tests/fakes/agents/README.md.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest

from tests.fakes.fake_agents import (
    CART,
    FAKE_AGENTS_DIR,
    PROGRAMS,
    SIGNED_IN,
    fake_agent_env,
    make_checkout,
    read_agent_log,
    render_prompt,
    run_fake,
)
from tests.fakes.real_agents import recording

# How each parser names an unknown option (the line compared with the real CLI's).
ERROR_LINE = {
    "claude": r"^error: unknown option",
    "codex": r"^error: unexpected argument",
    "gemini": r"^Unknown argument",
    "aider": r"^aider: error: unrecognized arguments",
    "openhands": r"^openhands: error: unrecognized arguments",
}


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """Return an empty git checkout."""
    return make_checkout(tmp_path)


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
