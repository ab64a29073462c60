"""Real agent presets in local mode: `ccs run` drives the fake agent CLIs as it would the real.

The fakes (tests/fakes/agents/) accept exactly their real CLI's flags, need its key, read the
prompt its way, write the file blocks of the design the prompt carries, and print usage in
its format — so these stories prove the presets, the prompt, usage and budgets end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fakes.designs import CART_DESIGN
from tests.fakes.fake_agents import fake_agent_env, read_agent_log
from tests.fakes.local import git

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]
KEYS = {"claude": {"ANTHROPIC_API_KEY": "fake-anthropic-key"},
        "codex": {"OPENAI_API_KEY": "fake-openai-key"},
        "gemini": {"GEMINI_API_KEY": "fake-gemini-key"},
        "aider": {"OPENAI_API_KEY": "fake-openai-key"},
        "openhands": {"LLM_API_KEY": "fake-llm-key"}}
MODELS = {"aider": "gpt-4o", "openhands": "openai/gpt-4o"}


def agent_log(tmp_path: Path) -> Path:
    """Return (making it) the folder the fake agents log into."""
    folder = tmp_path / "agent-log"
    folder.mkdir(exist_ok=True)
    return folder


TILL_DESIGN = '''\
# till

`change(paid, due)` returns what the customer gets back.

```python file=src/shop/till.py
def change(paid, due):
    return paid - due
```

```python file=tests/shop/test_till.py
from shop.till import change


def test_change():
    assert change(10, 7) == 3
```
'''


def make_repo(tmp_path: Path, coder: dict, *, components: tuple[str, ...] = ("cart",),
              extra: dict | None = None, files: dict[str, str] | None = None) -> Path:
    repo = tmp_path / "shop"
    repo.mkdir()
    manifest = {
        "version": 1,
        "coder": {"timeout": 120, "attempts": 2, **coder},
        "test": {"command": ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "{test}", "--junitxml={junit}"], "timeout": 120},
        "parallel": 1,
        # The fakes log outside the checkout; the sandbox lets them (DESIGN §8 `writable`).
        "sandbox": {"writable": [str(tmp_path / "agent-log")]},
        "contexts": {"shop": {"description": "A tiny shop",
                              "components": [{"name": name} for name in components]}},
        **(extra or {}),
    }
    contents = {".github/ccs.yml": yaml.safe_dump(manifest, sort_keys=False),
                "docs/design/shop/cart.md": CART_DESIGN, "docs/design/shop/till.md": TILL_DESIGN,
                "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
                "src/shop/__init__.py": "", **(files or {})}
    for path, text in contents.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "design and manifest")
    return repo


def run(repo: Path, env: dict[str, str], *args: str) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, "-m", "service.cli", "run", "shop", "--json", *args],
                          cwd=repo, env={**env, "PYTHONPATH": str(PROJECT)},
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def agent_coder(agent: str) -> dict:
    coder: dict = {"agent": agent}
    if agent in MODELS:
        coder["model"] = MODELS[agent]
    return coder


@pytest.mark.parametrize("agent", ["claude", "codex", "gemini", "aider", "openhands"])
def test_each_preset_codes_a_component_and_fixes_it_from_the_feedback(
        tmp_path: Path, agent: str) -> None:
    repo = make_repo(tmp_path, agent_coder(agent))
    env = fake_agent_env(agent_log(tmp_path), **KEYS[agent], CCS_FAKE_AGENT_COST="0.05")

    code, body = run(repo, env)

    assert code == 0, body
    (cart,) = body["children"]
    assert cart["status"] == "succeeded" and cart["attempts"] == 2, cart
    first, second = read_agent_log(agent_log(tmp_path))
    assert first["program"] == second["program"] == agent
    for call in (first, second):
        # The prompt carries the design text and the exact paths (the agent got it itself,
        # not only a file name).
        assert "returns the sum of price times quantity" in call["prompt"]
        assert "src/shop/cart.py" in call["prompt"]
        assert "tests/shop/test_cart.py" in call["prompt"]
        assert any(key["present"] for key in call["keys"].values())  # its own API key
    # Attempt 2 carries why attempt 1 failed: the failing test and its assertion.
    assert not first["feedback"] and second["feedback"]
    assert "previous attempt failed" in second["prompt"]
    assert "previous attempt failed" not in first["prompt"]
    assert "assert 2 == 11" in second["prompt"] or "AssertionError" in second["prompt"]
    finalized = git(repo, "show", f"{body['branch']}:src/shop/cart.py")
    assert "price * quantity" in finalized
    if agent == "claude":  # the agents that report dollars, not only tokens
        assert cart["usage"]["cost_usd"] == pytest.approx(0.10)
        assert body["usage"]["cost_usd"] == pytest.approx(0.10)
    if agent in ("codex", "gemini"):
        assert cart["usage"]["input_tokens"] > 0 and cart["usage"]["cost_usd"] == 0


def test_a_custom_template_is_what_the_agent_reads(tmp_path: Path) -> None:
    template = ("HOUSE RULES for ${component} (${description}).\n${design_text}\n"
                "Files you may touch:\n${allowed}\nJudged by: ${test_command}\n${feedback}\n"
                "Ticket: ${ticket}\n")
    repo = make_repo(tmp_path, {"agent": "claude", "prompt": ".github/ccs/prompt.md"},
                     files={".github/ccs/prompt.md": template})
    code, body = run(repo, fake_agent_env(agent_log(tmp_path), **KEYS["claude"]))

    assert code == 0, body
    first = read_agent_log(agent_log(tmp_path))[0]
    assert first["prompt"].startswith("HOUSE RULES for cart (A tiny shop).")
    assert "Ticket: ${ticket}" in first["prompt"]  # unknown names are left as written
    assert "pytest" in first["prompt"] and "src/shop/cart.py" in first["prompt"]


def test_usage_sums_per_child_and_per_session(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"agent": "claude"}, components=("cart", "till"))
    env = fake_agent_env(agent_log(tmp_path), **KEYS["claude"], CCS_FAKE_AGENT_COST="0.05")
    code, body = run(repo, env)

    assert code == 0, body
    spent = {c["component"]: c["usage"]["cost_usd"] for c in body["children"]}
    assert spent == pytest.approx({"cart": 0.10, "till": 0.05})
    assert body["usage"]["cost_usd"] == pytest.approx(0.15)
    assert body["usage"]["input_tokens"] == sum(
        c["usage"]["input_tokens"] for c in body["children"])


def test_a_component_budget_stops_further_attempts(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"agent": "claude", "budget_usd": 0.05})
    env = fake_agent_env(agent_log(tmp_path), **KEYS["claude"], CCS_FAKE_AGENT_COST="0.05")
    code, body = run(repo, env)

    assert code == 1
    (cart,) = body["children"]
    assert cart["status"] == "failed" and cart["attempts"] == 1, cart
    assert "budget reached" in cart["message"]
    assert len(read_agent_log(agent_log(tmp_path))) == 1


def test_a_session_budget_cancels_what_still_runs_and_names_the_figures(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"agent": "claude"}, components=("cart", "till"),
                     extra={"budget": {"cost_usd": 0.01}})
    env = fake_agent_env(agent_log(tmp_path), **KEYS["claude"], CCS_FAKE_AGENT_COST="0.05")
    code, body = run(repo, env)

    assert code == 1
    assert body["status"] == "needs_attention"
    assert "budget.cost_usd reached" in body["message"] and "of $0.01" in body["message"]
    statuses = sorted(c["status"] for c in body["children"])
    assert "cancelled" in statuses, body


def test_a_coder_that_cannot_start_fails_at_once_naming_the_program(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"agent": "claude"})
    env = fake_agent_env(agent_log(tmp_path), **KEYS["claude"])
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep)
                                  if "fakes/agents" not in p)
    code, body = run(repo, env)

    assert code == 1
    (cart,) = body["children"]
    assert cart["status"] == "failed" and cart["attempts"] == 1, cart
    assert "claude" in cart["message"]
    assert read_agent_log(agent_log(tmp_path)) == []
