"""Every preset's argv gets past the real, pinned CLI's own argument parsing.

The real CLIs come from `.ci/install-agents` (CCS_REAL_AGENTS_DIR); they run caged
(tests/fakes/real_agents.py: no key, a temporary HOME, no network, a timeout), so each stops
at its sign-in — or, for codex, keeps retrying the network until killed. A usage error
would stop it earlier. The fakes must accept the same argv, so fakes and real parsers agree,
and each preset must read the usage its fake prints and follow the built-in prompt.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import skip_or_fail
from tests.fakes.fake_agents import PROGRAMS, fake_agent_env, read_agent_log, run_fake
from tests.fakes.real_agents import (
    Outcome,
    make_scratch,
    missing_reason,
    real_program,
    recording,
    run_caged,
)

PROMPT = (
    "Write src/shop/cart.py so that tests/shop/test_cart.py passes.\n"
    "Change nothing else and do not commit.\n"
)
MODEL = {"claude": "claude-sonnet-4-5", "codex": "gpt-5-codex", "gemini": "gemini-2.5-pro",
         # aider with a model and no key goes on to call the model API; without one it stops
         # at its OpenRouter sign-in, which is what this test wants to see.
         "aider": None, "openhands": "anthropic/claude-sonnet-4-5"}
TIMEOUT = {"codex": 8, "aider": 20}  # seconds; the others exit on their own
# Said by each parser about argv it does not accept.
USAGE_ERROR = re.compile(
    r"error: unknown option|error: too many arguments|error: option '.*' argument"
    r"|error: unexpected argument|error: invalid value|error: a value is required"
    r"|^Unknown argument|^Invalid values:|Not enough arguments following"
    r"|: error: (unrecognized arguments|argument|ambiguous option)",
    re.MULTILINE,
)


@pytest.fixture
def agents() -> ModuleType:
    """Return the presets package, or skip while it is not there (branch h-agents)."""
    return pytest.importorskip(
        "action.agents", reason="action.agents (the presets, branch h-agents) is not importable"
    )


def typical_run(agents: ModuleType, name: str, scratch: Path, prompt: str = PROMPT) -> object:
    """Return the AgentRun of a typical attempt (model, turns, the budget left)."""
    (scratch / "prompt.md").write_text(prompt)
    fields = {field.name for field in dataclasses.fields(agents.AgentRun)}
    wanted = {
        "prompt_text": prompt,
        "prompt_path": str(scratch / "prompt.md"),
        "checkout": str(scratch / "work"),
        "model": MODEL[name],
        "max_turns": 40,
        "budget_usd": 1.5,
        "files": ("src/shop/cart.py", "tests/shop/test_cart.py"),
        "read_files": ("docs/design/shop/cart.md",),
    }
    return agents.AgentRun(**{key: value for key, value in wanted.items() if key in fields})


def reached_sign_in(name: str, outcome: Outcome) -> bool:
    """Tell whether the real CLI stopped where a CLI without a key stops (past its parser)."""
    if name == "claude":
        return outcome.exit_code == 1 and "Not logged in" in outcome.stdout
    if name == "codex":  # no sign-in error without network: it starts the thread and retries
        first = outcome.stdout.splitlines()[:1]
        return bool(first) and json.loads(first[0]).get("type") == "thread.started"
    if name == "gemini":
        return outcome.exit_code == 41 and "Please set an Auth method" in outcome.stderr
    if name == "aider":
        return "No LLM model was specified and no API keys were provided." in outcome.stdout
    return outcome.exit_code == 1 and "Missing required environment variable(s)" in (
        outcome.stdout
    )


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """Return a folder with home/, a git checkout work/ and the prompt file."""
    make_scratch(tmp_path)
    (tmp_path / "prompt.md").write_text(PROMPT)
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize("name", PROGRAMS)
def test_preset_argv_gets_past_the_real_cli_parser(
    agents: ModuleType, name: str, scratch: Path
) -> None:
    program = real_program(name)
    if program is None:
        skip_or_fail(missing_reason(name))
    invocation = agents.preset(name).invocation(typical_run(agents, name, scratch))
    outcome = run_caged(
        [str(program), *invocation.argv[1:]],
        cwd=scratch / "work",
        home=scratch / "home",
        stdin=invocation.stdin,
        timeout=TIMEOUT.get(name, 60),
        extra_env=dict(getattr(invocation, "env", None) or {}),
    )
    shown = f"argv {list(invocation.argv)}\nstdout:\n{outcome.stdout}\nstderr:\n{outcome.stderr}"
    assert not USAGE_ERROR.search(outcome.stdout + outcome.stderr), shown
    assert reached_sign_in(name, outcome), shown


@pytest.mark.parametrize("name", PROGRAMS)
def test_fake_accepts_the_preset_argv(agents: ModuleType, name: str, scratch: Path) -> None:
    invocation = agents.preset(name).invocation(typical_run(agents, name, scratch))
    env = fake_agent_env(scratch, **dict(getattr(invocation, "env", None) or {}))
    result = run_fake(name, list(invocation.argv[1:]), cwd=scratch / "work", env=env,
                      stdin=invocation.stdin)
    [call] = read_agent_log(scratch)
    assert not USAGE_ERROR.search(result.stdout + result.stderr), result.stderr
    assert call["prompt"].strip() == PROMPT.strip()
    assert call["signed_in"] is False  # no key given: it stopped at its sign-in



@pytest.mark.parametrize("name", PROGRAMS)
def test_usage_error_detector_tells_recorded_usage_errors_from_sign_ins(name: str) -> None:
    rejected = recording(name, "unknown_option")
    # openhands' preset passes --override-with-envs, whose sign-in error is this recording.
    signed_out = recording(name, "signin_envs" if name == "openhands" else "signin")
    stopped = Outcome(signed_out["exit_code"], str(signed_out["stdout"]), str(signed_out["stderr"]))
    assert USAGE_ERROR.search(str(rejected["stdout"]) + str(rejected["stderr"]))
    assert not USAGE_ERROR.search(stopped.stdout + stopped.stderr)
    assert reached_sign_in(name, stopped)


# Spends nothing on a model that reports no cost: codex and gemini print tokens only.
REPORTS_COST = {"claude", "aider", "openhands"}
WRITING_PROMPT = PROMPT + "\n```python file=src/shop/cart.py\nTOTAL = 0\n```\n"


@pytest.mark.parametrize("name", PROGRAMS)
def test_preset_reads_the_usage_its_fake_prints(
    agents: ModuleType, name: str, scratch: Path
) -> None:
    preset = agents.preset(name)
    invocation = preset.invocation(typical_run(agents, name, scratch, WRITING_PROMPT))
    env = fake_agent_env(scratch, CCS_FAKE_AGENT_COST="0.37", **{preset.secret: "fake-key"},
                         **dict(getattr(invocation, "env", None) or {}))
    result = run_fake(name, list(invocation.argv[1:]), cwd=scratch / "work", env=env,
                      stdin=invocation.stdin)
    usage = preset.usage(result.stdout)
    assert result.returncode == 0, result.stderr
    assert (scratch / "work/src/shop/cart.py").read_text() == "TOTAL = 0\n"
    assert usage.get("cost_usd") == (0.37 if name in REPORTS_COST else None)
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0


DESIGN_WITH_BLOCKS = (
    "Totals a cart.\n\n"
    "```python file=src/shop/cart.py\nTOTAL = 'first try'\n```\n\n"
    "```python file=src/shop/cart.py when=feedback\nTOTAL = 'fixed'\n```\n\n"
    "```python file=src/shop/other.py\nOUT_OF_SCOPE = True\n```\n"
)
PYTEST_FAILURE = (
    "F                                                                        [100%]\n"
    "FAILED tests/shop/test_cart.py::test_total - AssertionError: assert 'first try' == 5\n"
    "1 failed in 0.02s\n"
)


@pytest.mark.parametrize(("feedback", "expected"), [("", "first try"), (PYTEST_FAILURE, "fixed")])
def test_fake_follows_the_builtin_prompt(feedback: str, expected: str, scratch: Path) -> None:
    prompt = pytest.importorskip("action.prompt", reason="action.prompt (h-agents) is missing")
    values = prompt.prompt_values(
        context="shop", description="A shop.", component="cart",
        design="docs/design/shop/cart.md", design_text=DESIGN_WITH_BLOCKS,
        implementation="src/shop/cart.py", test="tests/shop/test_cart.py",
        allowed=["src/shop/cart.py", "tests/shop/test_cart.py"],
        test_command="python -m pytest -q tests/shop/test_cart.py",
        attempt=2 if feedback else 1, attempts=3, feedback=feedback,
    )
    env = fake_agent_env(scratch, ANTHROPIC_API_KEY="fake-key")
    run_fake("claude", ["-p", "--permission-mode", "acceptEdits"], cwd=scratch / "work",
             env=env, stdin=prompt.render_builtin(values))
    [call] = read_agent_log(scratch)
    assert (scratch / "work/src/shop/cart.py").read_text() == f"TOTAL = {expected!r}\n"
    assert call["refused"] == {"src/shop/other.py": "the prompt does not list it as a file "
                                                    "to write or change"}
    assert call["feedback"] is bool(feedback)
