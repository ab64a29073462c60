"""The agent keys of the manifest (DESIGN §3a): presets, prompt, budgets, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from action.agents import PRESETS
from service.adapters.manifest.parse import parse_manifest
from service.cli import AGENTS, main
from service.domain.manifest import ManifestError

AGENT = """\
version: 1
coder:
  agent: claude
  model: claude-sonnet-4-5
  prompt: .github/ccs/prompt.md
  max_turns: 40
  budget_usd: 2.0
  env: [ANTHROPIC_API_KEY]
  timeout: 900
  attempts: 2
budget:
  cost_usd: 25
  minutes: 90
test:
  command: ["python", "-m", "pytest", "-q", "{test}", "--junitxml={junit}"]
contexts:
  accounts:
    description: Users and credentials
    components:
      - name: user_repository
"""


def rejected(text: str) -> str:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text)
    return str(caught.value)


def test_an_agent_coder_and_a_budget_reach_the_job_config() -> None:
    manifest = parse_manifest(AGENT)
    coder = manifest.job_config().to_json()["coder"]
    assert coder == {"timeout": 900, "agent": "claude", "model": "claude-sonnet-4-5",
                     "prompt": ".github/ccs/prompt.md", "max_turns": 40, "budget_usd": 2.0,
                     "env": ["ANTHROPIC_API_KEY"]}
    assert manifest.budget is not None and manifest.budget.to_json() == {
        "cost_usd": 25, "minutes": 90}


def test_a_command_coder_may_use_the_prompt_placeholder() -> None:
    text = AGENT.replace("  agent: claude\n  model: claude-sonnet-4-5\n", "").replace(
        "  max_turns: 40\n", "").replace("coder:\n", 'coder:\n  command: ["mycoder", "{prompt}"]\n')
    assert parse_manifest(text).job_config().to_json()["coder"]["command"] == [
        "mycoder", "{prompt}"]


@pytest.mark.parametrize(("change", "complaint"), [
    (("  agent: claude\n", '  agent: claude\n  command: ["x"]\n'),
     ".github/ccs.yml:2: coder: give exactly one of `command`"),
    (("  agent: claude\n", "  agent: claud\n"),
     ".github/ccs.yml:3: coder.agent: unknown agent 'claud'; use one of aider, claude, codex, "
     "gemini, openhands (did you mean 'claude'?)"),
    (("  budget_usd: 2.0\n", "  budget_usd: -1\n"),
     ".github/ccs.yml:7: coder.budget_usd: must be more than 0 (got -1)"),
    (("  cost_usd: 25\n", "  cost_usd: -5\n"),
     ".github/ccs.yml:12: budget.cost_usd: must be more than 0 (got -5)"),
    (("  prompt: .github/ccs/prompt.md\n", "  prompt: ../outside.md\n"),
     ".github/ccs.yml:5: coder.prompt"),
    (("  prompt: .github/ccs/prompt.md\n", "  prompt: /etc/passwd\n"),
     ".github/ccs.yml:5: coder.prompt"),
    (("  env: [ANTHROPIC_API_KEY]\n", "  env: [\"A B\"]\n"),
     ".github/ccs.yml:8: coder.env[0]: 'A B' is not allowed here"),
])
def test_bad_agent_keys_name_file_line_and_key(change: tuple[str, str], complaint: str) -> None:
    message = rejected(AGENT.replace(*change))
    assert complaint in message, message


def test_the_cli_knows_every_preset() -> None:
    assert tuple(sorted(PRESETS)) == AGENTS


def test_check_warns_about_unknown_template_names_and_missing_programs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    (tmp_path / ".github" / "ccs").mkdir(parents=True)
    (tmp_path / ".github" / "ccs.yml").write_text(AGENT)
    (tmp_path / ".github" / "ccs" / "prompt.md").write_text(
        "Write ${implementation} from ${design_text}. Ticket: ${ticket}\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no claude, no python here
    assert main(["check", "--repo", str(tmp_path), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["status"] == "valid"
    assert "coder.prompt: .github/ccs/prompt.md uses ${ticket}, which is not a template " \
           "name (left as written)" in err
    assert "the coder (agent claude) program 'claude' is not on PATH here" in err
    assert "${implementation}" not in err
