"""Structure of action/action.yml and the workflows (what actionlint cannot check here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ACTION = ROOT / "action" / "action.yml"
WORKFLOWS = ROOT / ".github" / "workflows"
PINNED = re.compile(r"^\s*(?:-\s*)?uses:\s*[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+\s*$")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load(path: Path) -> dict:
    """Load a YAML file (PyYAML reads the key `on` as True; give it back its name)."""
    document = yaml.safe_load(path.read_text())
    if True in document:
        document["on"] = document.pop(True)
    return document


def all_steps(document: dict) -> list[dict]:
    """Return every step of a workflow or composite action."""
    if "runs" in document:
        return document["runs"]["steps"]
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def test_action_is_composite_of_bash_run_steps_only() -> None:
    action = load(ACTION)
    assert action["runs"]["using"] == "composite"
    for step in action["runs"]["steps"]:
        assert set(step) & {"run", "uses"} == {"run"}, step.get("name")
        assert step["shell"] == "bash"
        assert "$GITHUB_ACTION_PATH/.." in step["run"]
        assert "-m action job" in step["run"]


def test_action_inputs_reach_steps_only_through_env() -> None:
    action = load(ACTION)
    declared = set(action["inputs"])
    used = set()
    for step in action["runs"]["steps"]:
        assert not EXPRESSION.search(step["run"]), "no expressions inside run:"
        for value in (step.get("env") or {}).values():
            for expression in EXPRESSION.findall(str(value)):
                assert re.fullmatch(r"inputs\.[\w-]+|steps\.run\.outcome", expression)
                if expression.startswith("inputs."):
                    used.add(expression.split(".", 1)[1])
    assert used == declared
    assert {"entry", "config", "session", "branch", "callback", "mode", "token",
            "python-version"} <= declared
    main = action["runs"]["steps"][0]
    assert main["id"] == "run"
    assert {"CCS_JOB_ENTRY", "CCS_JOB_CONFIG", "CCS_JOB_SESSION", "CCS_JOB_BRANCH",
            "CCS_JOB_CALLBACK", "CCS_JOB_MODE", "CCS_JOB_TOKEN"} <= set(main["env"])


def test_action_reports_even_when_the_main_step_does_not() -> None:
    steps = load(ACTION)["runs"]["steps"]
    final = steps[-1]
    assert final["if"].startswith("always()")
    assert "report_attempted" in final["if"]
    assert "--fallback" in final["run"]
    outputs = load(ACTION)["outputs"]
    assert set(outputs) == {"status", "commit", "attempts"}
    assert all("steps.run.outputs." in output["value"] for output in outputs.values())


@pytest.mark.parametrize("path", [*sorted(WORKFLOWS.glob("*.yml")), ACTION],
                         ids=lambda p: p.name)
def test_uses_are_pinned_and_run_text_holds_no_expressions(path: Path) -> None:
    for line in path.read_text().splitlines():
        if re.match(r"^\s*(-\s*)?uses:", line):
            assert PINNED.match(line), f"{path.name}: pin by sha with a # vX.Y.Z comment: {line}"
    for step in all_steps(load(path)):
        if "run" in step:
            assert not EXPRESSION.search(step["run"]), f"{path.name}: {step.get('name')}"
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_workflows_grant_nothing_at_the_top_level(path: Path) -> None:
    document = load(path)
    assert document["permissions"] == {}
    for job in document["jobs"].values():
        assert "permissions" in job


def test_the_reusable_component_workflow_is_retired_and_the_guide_says_why() -> None:
    # Each repository runs the workflow and action `ccs init` vendors into it (DESIGN §6a);
    # a reusable form could hand the caller's secrets to the coder only all at once.
    assert not (WORKFLOWS / "ccs.yml").exists()
    guide = (ROOT / "docs" / "github-setup.md").read_text()
    assert "retired" in guide and "toJSON(secrets)" in guide


def test_start_workflow_posts_with_oidc_only() -> None:
    workflow = load(WORKFLOWS / "ccs-start.yml")
    assert set(workflow["on"]["workflow_dispatch"]["inputs"]) == {"context", "components",
                                                                  "base"}
    [job] = workflow["jobs"].values()
    assert job["permissions"] == {"id-token": "write"}
    [step] = job["steps"]
    assert step["env"]["CCS_URL"] == "${{ vars.CCS_URL }}"
    assert "/api/v1/sessions" in step["run"]


def test_ci_runs_make_test_on_every_python_with_services() -> None:
    workflow = load(WORKFLOWS / "ci.yml")
    job = workflow["jobs"]["test"]
    assert job["strategy"]["matrix"]["python"] == ["3.11", "3.12", "3.13"]
    assert set(job["services"]) == {"postgres", "redis"}
    assert job["env"]["CCS_REQUIRE_SERVICES"] == "1"
    assert job["env"]["CCS_TEST_POSTGRES_URL"] == (
        "postgresql+psycopg://postgres:postgres@localhost:5432/test")
    assert job["permissions"] == {"contents": "read"}
    assert any(step.get("run") == "make test" for step in job["steps"])
