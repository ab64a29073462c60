"""Run the fake agent CLIs of tests/fakes/agents/ (README.md there) and read their log.

    env = fake_agent_env(tmp_path, ANTHROPIC_API_KEY="fake-key")   # fakes first on PATH
    run_fake("claude", ["-p", "--output-format", "json"], cwd=checkout, env=env, stdin=prompt)
    [call] = read_agent_log(tmp_path)

`run_headless` runs one signed in, allowed to edit, on a prompt such as `render_prompt()`
(a sample shaped like the built-in template, with file blocks for the protocol).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

FAKE_AGENTS_DIR = Path(__file__).resolve().parent / "agents"
PROGRAMS = ("claude", "codex", "gemini", "aider", "openhands")
# Every variable a fake (or a real CLI) takes as a credential: a test starts without them.
_CREDENTIAL = re.compile(r"(_API_KEY|_AUTH_TOKEN|_OAUTH_TOKEN)$|^GOOGLE_GENAI_USE_|^LLM_")
LOG_NAME = "fake-agent-log.jsonl"


def fake_agent_env(log_dir: Path, **variables: str) -> dict[str, str]:
    """Return os.environ with the fakes first on PATH, no credentials, the log in `log_dir`."""
    env = {name: value for name, value in os.environ.items() if not _CREDENTIAL.search(name)}
    env.pop("CCS_FAKE_AGENT_COST", None)
    env.pop("CCS_FAKE_AGENT_WAIT_FOR", None)
    env["PATH"] = f"{FAKE_AGENTS_DIR}{os.pathsep}{env.get('PATH', '')}"
    env["CCS_FAKE_AGENT_LOG"] = str(log_dir / LOG_NAME)
    env.update(variables)
    return env


def run_fake(
    program: str, args: list[str], *, cwd: Path, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the fake `program` with `args` in `cwd` (stdin closed unless given)."""
    return subprocess.run(
        [str(FAKE_AGENTS_DIR / program), *args],
        cwd=cwd,
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def read_agent_log(log_dir: Path) -> list[dict[str, object]]:
    """Return the invocations the fakes logged in `log_dir`, oldest first."""
    path = log_dir / LOG_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---- a sample prompt and signed-in runs that may edit --------------------------------

CART = "src/shop/cart.py"
FAILING_OUTPUT = "FAILED tests/shop/test_cart.py::test_total - assert 3 == 5\n1 failed in 0.01s\n"
DESIGN = (
    "# Cart\n\nTotals the items.\n\n"
    f"```python file={CART}\nFIRST = True\n```\n\n"
    f"```python file={CART} when=feedback\nFIXED = True\n```\n\n"
    "```python file=src/shop/secret.py\nLEAK = True\n```\n"
)
KEY_VALUE = "fake-key-value-0123456789"
# The key each fake is given to run signed in.
SIGNED_IN = {
    "claude": {"ANTHROPIC_API_KEY": KEY_VALUE},
    "codex": {"OPENAI_API_KEY": KEY_VALUE},
    "gemini": {"GEMINI_API_KEY": KEY_VALUE},
    "aider": {"ANTHROPIC_API_KEY": KEY_VALUE},
    "openhands": {"LLM_API_KEY": KEY_VALUE, "LLM_MODEL": "anthropic/claude-sonnet-4-5"},
}
def render_prompt(*, feedback: str = "", listed: tuple[str, ...] = (CART,)) -> str:
    """Render a sample prompt shaped like the built-in template: design, files, feedback."""
    files = "\n".join(f"- {path}" for path in listed)
    tail = f"\n## Failing tests\n\n```\n{feedback}```\n" if feedback else ""
    return f"## Design\n\n{DESIGN}\n## Files you may write\n\n{files}\n{tail}"


def make_checkout(tmp_path: Path) -> Path:
    """Make an empty git checkout `work/` in `tmp_path` (the log and prompt go beside it)."""
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


def run_headless(
    program: str, checkout: Path, prompt: str, **variables: str
) -> subprocess.CompletedProcess[str]:
    """Run `program` signed in, editing allowed, with `prompt`; return the process."""
    prompt_file = checkout.parent / "prompt.md"
    prompt_file.write_text(prompt)
    args, on_stdin = headless_args(program, prompt_file)
    env = fake_agent_env(checkout.parent, **SIGNED_IN[program], **variables)
    return run_fake(program, args, cwd=checkout, env=env, stdin=prompt if on_stdin else None)
