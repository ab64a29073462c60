"""Run the fake agent CLIs of tests/fakes/agents/ (README.md there) and read their log.

    env = fake_agent_env(tmp_path, ANTHROPIC_API_KEY="fake-key")   # fakes first on PATH
    run_fake("claude", ["-p", "--output-format", "json"], cwd=checkout, env=env, stdin=prompt)
    [call] = read_agent_log(tmp_path)
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
