"""The child loop with §3a coders: prompt per attempt, usage, budget, a coder that cannot start."""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from action.agents import PRESETS, AgentRun, Invocation
from action.report import RunResult
from action.runner import Console, Runner, run_component
from action.spec import parse_component_entry, parse_config
from tests.fakes.cli import HANG_GUARD
from tests.fakes.local import git

ENTRY = {"child": "c1", "component": "hasher", "context": "accounts",
         "child_branch": "ccs-accounts-1-hasher", "design": "docs/hasher.md",
         "implementation": "src/hasher.py", "test": "tests/test_hasher.py", "allow": [],
         "description": "Users and credentials"}
DESIGN = "# Hasher\n\nVALUE must be 2.\n"
# One "test" that passes once src/hasher.py says VALUE = 2 (no JUnit: it counts as one).
CHECK = [sys.executable, "-c", "import pathlib, sys; sys.exit(0 if 'VALUE = 2' in "
         "pathlib.Path('src/hasher.py').read_text() else 1)"]
WRITE_TWO = "pathlib.Path('src/hasher.py').write_text('VALUE = 2\\n')\n"


class RecordingConsole(Console):
    """A console that keeps what the runner says."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def start(self, title: str) -> None:
        """Record a step."""
        self.lines.append(title)

    def info(self, message: str) -> None:
        """Record a line."""
        self.lines.append(message)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """Return a detached checkout with a design, a custom template and the file to change."""
    repo = tmp_path / "repo"
    for path, text in {"docs/hasher.md": DESIGN, "src/hasher.py": "VALUE = 0\n",
                       "tests/test_hasher.py": "# judged by CHECK\n",
                       ".github/ccs/prompt.md": "Build ${implementation} for ${ticket}\n"
                                                "${feedback}"}.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "--detach")
    return repo


def script(tmp_path: Path, body: str, name: str = "coder.py") -> str:
    """Write a Python coder outside the checkout and return its path."""
    path = tmp_path / name
    path.write_text("import json, os, pathlib, sys\n"
                    "attempt = int(os.environ['CCS_ATTEMPT'])\n" + body)
    return str(path)


def run(checkout: Path, coder: dict, attempts: int = 3, test: list[str] | None = None,
        environ: dict[str, str] | None = None) -> tuple[RunResult, list[str]]:
    """Run the child loop in-process and return the result and what the runner said."""
    config = parse_config({"coder": {"timeout": HANG_GUARD, **coder},
                           "test": {"command": test or CHECK, "timeout": HANG_GUARD},
                           "attempts": attempts})
    console = RecordingConsole()
    runner = Runner(session="s1", workdir=checkout, console=console,
                    environ=environ if environ is not None else dict(os.environ))
    try:
        return run_component(parse_component_entry(ENTRY), config, runner), console.lines
    finally:
        runner.close()


def test_usage_from_ccs_usage_is_summed_over_attempts(checkout, tmp_path) -> None:
    coder = script(tmp_path, """
spent = {1: {"cost_usd": 0.25, "input_tokens": 1000, "output_tokens": 100},
         2: {"cost_usd": 0.5, "input_tokens": 2000}}[attempt]
pathlib.Path(os.environ["CCS_USAGE"]).write_text(json.dumps(spent))
if attempt == 2:
    pathlib.Path('src/hasher.py').write_text('VALUE = 2\\n')
""")
    result, _ = run(checkout, {"command": [sys.executable, coder]})
    assert result.status == "succeeded" and result.attempts == 2
    expected = {"cost_usd": 0.75, "input_tokens": 3000, "output_tokens": 100}
    assert result.usage == expected
    assert result.to_json()["usage"] == expected


def test_each_attempt_gets_a_fresh_usage_file(checkout, tmp_path) -> None:
    coder = script(tmp_path, """
usage = pathlib.Path(os.environ["CCS_USAGE"])
if attempt == 1:
    usage.write_text('{"cost_usd": 0.1}')
else:
    assert not usage.exists(), "attempt 2 sees attempt 1's usage"
    pathlib.Path('src/hasher.py').write_text('VALUE = 2\\n')
""")
    result, _ = run(checkout, {"command": [sys.executable, coder]})
    assert result.status == "succeeded", result.message
    assert result.usage == {"cost_usd": 0.1}


def test_a_bad_usage_file_is_ignored_with_a_warning(checkout, tmp_path) -> None:
    coder = script(tmp_path, "pathlib.Path(os.environ['CCS_USAGE']).write_text('oops')\n"
                   + WRITE_TWO)
    result, said = run(checkout, {"command": [sys.executable, coder]})
    assert result.status == "succeeded" and result.usage == {}
    assert "usage" not in result.to_json()
    assert any("CCS_USAGE: the usage file is not valid JSON" in line for line in said)


def test_the_budget_stops_further_attempts(checkout, tmp_path) -> None:
    runs = tmp_path / "runs.txt"
    coder = script(tmp_path, f"""
open({str(runs)!r}, "a").write("run\\n")
pathlib.Path(os.environ["CCS_USAGE"]).write_text('{{"cost_usd": 0.3}}')
""")
    result, _ = run(checkout, {"command": [sys.executable, coder], "budget_usd": 0.5},
                    attempts=5)
    assert runs.read_text().count("run") == 2
    assert result.status == "failed" and result.attempts == 2
    assert result.message == ("budget reached: spent $0.60 of coder.budget_usd $0.50 in "
                              "2 attempts; no further attempt; tests failed after 2 "
                              "attempts: 1 failed")
    assert result.to_json()["usage"] == {"cost_usd": 0.6}


def test_an_attempt_that_passes_while_reaching_the_budget_still_succeeds(checkout,
                                                                          tmp_path) -> None:
    coder = script(tmp_path, "pathlib.Path(os.environ['CCS_USAGE']).write_text("
                             "'{\"cost_usd\": 0.9}')\n" + WRITE_TWO)
    result, _ = run(checkout, {"command": [sys.executable, coder], "budget_usd": 0.5})
    assert result.status == "succeeded" and result.usage == {"cost_usd": 0.9}


def test_a_missing_program_fails_at_once_and_runs_no_tests(checkout, tmp_path) -> None:
    marker = tmp_path / "tests-ran"
    tests = [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]
    result, _ = run(checkout, {"command": ["no-such-coder-for-ccs", "--go"]}, test=tests)
    assert result.status == "failed" and result.attempts == 1
    assert result.message == ("coder could not start: program 'no-such-coder-for-ccs' was "
                              "not found on PATH")
    assert not marker.exists()
    assert result.changed_files == [] and result.tests["passed"] == 0


def test_a_missing_agent_cli_is_named_with_how_to_install_it(checkout, tmp_path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result, _ = run(checkout, {"agent": "codex"}, environ={"PATH": str(empty)})
    assert result.status == "failed" and result.attempts == 1
    assert result.message == ("coder could not start: program 'codex' was not found on PATH "
                              "(install it in `setup`, e.g. `npm install -g "
                              "@openai/codex@0.171.0`)")


def test_a_program_that_is_not_executable_fails_at_once(checkout, tmp_path) -> None:
    coder = tmp_path / "coder.sh"
    coder.write_text("#!/bin/sh\nexit 0\n")
    coder.chmod(0o644)
    result, _ = run(checkout, {"command": [str(coder)]})
    assert result.status == "failed" and result.attempts == 1
    assert result.message == f"coder could not start: program {str(coder)!r} is not executable"


def test_the_prompt_reaches_a_command_coder_with_feedback_from_attempt_two(checkout,
                                                                           tmp_path) -> None:
    coder = script(tmp_path, f"""
assert sys.argv[1] == os.environ["CCS_PROMPT"]
prompt = pathlib.Path(sys.argv[1]).read_text()
pathlib.Path({str(tmp_path)!r}, f"prompt-{{attempt}}.md").write_text(prompt)
if attempt == 2:
    pathlib.Path('src/hasher.py').write_text('VALUE = 2\\n')
""")
    result, _ = run(checkout, {"command": [sys.executable, coder, "{prompt}"]})
    assert result.status == "succeeded" and result.attempts == 2
    first, second = (tmp_path / "prompt-1.md").read_text(), (tmp_path / "prompt-2.md").read_text()
    for prompt in (first, second):
        assert DESIGN in prompt and "Users and credentials" in prompt
        assert "Write the implementation in `src/hasher.py`" in prompt
        assert "  - tests/test_hasher.py\n" in prompt
        assert f"       {shlex.join(CHECK)}\n" in prompt  # the test command
    assert "previous attempt" not in first and "This is attempt 1 of 3." in first
    assert "## Why the previous attempt failed" in second
    assert "ccs feedback for accounts.hasher after attempt 1" in second
    assert "Tests: 1 failed" in second


def test_a_custom_template_is_used_and_its_unknown_names_are_warned_about(checkout,
                                                                          tmp_path) -> None:
    copy = tmp_path / "seen.md"
    coder = script(tmp_path, f"pathlib.Path({str(copy)!r}).write_text("
                             "pathlib.Path(os.environ['CCS_PROMPT']).read_text())\n" + WRITE_TWO)
    result, said = run(checkout, {"command": [sys.executable, coder],
                                  "prompt": ".github/ccs/prompt.md"})
    assert result.status == "succeeded"
    assert copy.read_text() == "Build src/hasher.py for ${ticket}\n"
    assert ("warning: prompt template .github/ccs/prompt.md: unknown name(s) ${ticket} left "
            "as written") in said


def test_a_missing_template_fails_at_once(checkout, tmp_path) -> None:
    coder = script(tmp_path, "raise SystemExit('must not run')\n")
    result, _ = run(checkout, {"command": [sys.executable, coder], "prompt": "nope.md"})
    assert result.status == "failed" and result.attempts == 1
    assert result.message == ("cannot read the prompt template 'nope.md': No such file or "
                              "directory")


def test_an_agent_preset_gets_the_prompt_and_the_remaining_budget_and_reports_usage(
        checkout, tmp_path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.jsonl"
    # A stand-in for `claude -p`: records how it was called, prints a result object.
    stub = bin_dir / "claude"
    stub.write_text(f"#!{sys.executable}\n" f"""import json, os, pathlib, sys
prompt = sys.stdin.read()
with open({str(calls)!r}, "a") as out:
    out.write(json.dumps({{"argv": sys.argv[1:], "prompt": prompt}}) + "\\n")
if os.environ["CCS_ATTEMPT"] == "2":
    pathlib.Path("src/hasher.py").write_text("VALUE = 2\\n")
print(json.dumps({{"type": "result", "subtype": "success", "total_cost_usd": 0.4,
                  "usage": {{"input_tokens": 10, "cache_read_input_tokens": 90,
                            "output_tokens": 5}}}}))
""")
    stub.chmod(0o755)
    environ = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result, said = run(checkout, {"agent": "claude", "model": "m", "max_turns": 7,
                                  "budget_usd": 1.0}, environ=environ)
    assert result.status == "succeeded" and result.attempts == 2, result.message
    assert result.usage == {"cost_usd": 0.8, "input_tokens": 200, "output_tokens": 10}
    first, second = [json.loads(line) for line in calls.read_text().splitlines()]
    assert first["argv"][-6:] == ["--model", "m", "--max-turns", "7", "--max-budget-usd", "1"]
    assert second["argv"][-2:] == ["--max-budget-usd", "0.6"]
    assert DESIGN in first["prompt"] and "Why the previous attempt failed" in second["prompt"]
    assert any(line.startswith("attempt 1/3: coder: claude -p --output-format json "
                               "--permission-mode acceptEdits") for line in said)


def test_an_agents_own_scratch_files_are_never_committed(checkout, tmp_path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # A stand-in for aider: edits the files it was given, keeps a cache in the checkout.
    stub = bin_dir / "aider"
    stub.write_text(f"#!{sys.executable}\n" """import pathlib, sys
assert sys.argv[-2:] == ["src/hasher.py", "tests/test_hasher.py"], sys.argv
pathlib.Path(sys.argv[-2]).write_text("VALUE = 2\\n")
pathlib.Path(".aider.tags.cache.v4").mkdir()
pathlib.Path(".aider.tags.cache.v4/cache.db").write_text("x")
print("Tokens: 2.5k sent, 310 received. Cost: $0.01 message, $0.01 session.")
""")
    stub.chmod(0o755)
    environ = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result, _ = run(checkout, {"agent": "aider"}, environ=environ)
    assert result.status == "succeeded", result.message
    assert result.changed_files == ["src/hasher.py"]
    assert result.usage == {"cost_usd": 0.01, "input_tokens": 2500, "output_tokens": 310}
    tree = git(checkout, "ls-tree", "-r", "--name-only", result.commit).split()
    assert not [path for path in tree if path.startswith(".aider")]


def test_a_program_the_system_cannot_execute_fails_at_once(checkout, tmp_path) -> None:
    coder = tmp_path / "coder"
    coder.write_text("just text, no shebang\n")
    coder.chmod(0o755)
    result, _ = run(checkout, {"command": [str(coder)]})
    assert result.status == "failed" and result.attempts == 1
    assert result.message.startswith(f"coder could not start {str(coder)!r}: ")


def test_the_prompt_never_reads_a_design_that_leads_outside_the_checkout(checkout,
                                                                        tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOKEN=abc\n")
    design = checkout / "docs" / "hasher.md"
    design.unlink()
    design.symlink_to(secret)
    copy = tmp_path / "seen.md"
    coder = script(tmp_path, f"pathlib.Path({str(copy)!r}).write_text("
                             "pathlib.Path(os.environ['CCS_PROMPT']).read_text())\n")
    result, _ = run(checkout, {"command": [sys.executable, coder]}, attempts=1)
    # The runner refuses a symlinked component path before any coder runs (DESIGN §8), so
    # the outside file never reaches a prompt; the prompt's own guard is the second line.
    assert result.status == "failed" and "docs/hasher.md" in result.message
    assert not copy.exists() or "TOKEN=abc" not in copy.read_text()


def test_a_template_that_a_symlink_leads_outside_the_checkout_is_refused(checkout,
                                                                         tmp_path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text("Do ${component}\n")
    (checkout / "prompt.md").symlink_to(outside)
    coder = script(tmp_path, "raise SystemExit('must not run')\n")
    result, _ = run(checkout, {"command": [sys.executable, coder], "prompt": "prompt.md"})
    assert result.status == "failed" and result.attempts == 1
    assert result.message == "coder.prompt 'prompt.md' leads outside the checkout"


def test_a_preset_whose_parser_breaks_costs_a_warning_not_the_component(checkout, tmp_path,
                                                                        monkeypatch) -> None:
    @dataclass(frozen=True)
    class Broken:
        name: str = "broken"
        program: str = sys.executable
        secret: str = "NONE"
        install: str = "nothing"

        def invocation(self, run: AgentRun) -> Invocation:
            return Invocation((sys.executable, "-c", "import pathlib; pathlib.Path("
                               "'src/hasher.py').write_text('VALUE = 2\\n')"))

        def usage(self, stdout: str) -> dict[str, float | int]:
            raise KeyError("total_cost_usd")

    monkeypatch.setitem(PRESETS, "broken", Broken())
    result, said = run(checkout, {"agent": "broken"})
    assert result.status == "succeeded" and result.usage == {}
    assert ("warning: CCS_USAGE: the broken preset could not read its agent's usage: "
            "KeyError: 'total_cost_usd'") in said
