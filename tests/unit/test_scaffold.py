"""`ccs init` scaffolding: inferred contexts, the workflow it writes, refusing to overwrite."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from service.adapters.manifest.parse import load_manifest
from service.cli.scaffold import (
    WORKFLOW_PATH,
    ScaffoldExists,
    infer_contexts,
    scaffold,
)
from service.cli.workflow import UPLOAD_ARTIFACT, WORKFLOW_INPUTS


def design_docs(repo: Path, *paths: str) -> None:
    """Create empty design documents under docs/design."""
    for path in paths:
        target = repo / "docs" / "design" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("# design\n")


def test_infers_contexts_and_components_from_design_docs(tmp_path: Path) -> None:
    design_docs(tmp_path, "accounts/user_repository.md", "accounts/password_hasher.md",
                "billing/invoice.md", "accounts/Bad-Name.md", "Weird Context/x.md",
                "empty/readme.txt")
    found = infer_contexts(tmp_path)
    assert found.contexts == {
        "accounts": ["password_hasher", "user_repository"],
        "billing": ["invoice"],
    }
    assert found.skipped == ["docs/design/Weird Context", "docs/design/accounts/Bad-Name.md"]


def test_scaffold_writes_a_manifest_that_check_accepts(tmp_path: Path) -> None:
    design_docs(tmp_path, "accounts/user_repository.md", "accounts/password_hasher.md")
    result = scaffold(tmp_path)
    assert result.inferred and result.written[:2] == [".github/ccs.yml", WORKFLOW_PATH]
    assert ".github/actions/ccs/action.yml" in result.written
    manifest = load_manifest(tmp_path)
    components = manifest.components("accounts")
    assert [c.name for c in components] == ["password_hasher", "user_repository"]
    assert components[0].design == "docs/design/accounts/password_hasher.md"
    assert manifest.coder.timeout == 1800 and manifest.attempts == 3


def test_scaffold_without_design_docs_writes_an_example(tmp_path: Path) -> None:
    result = scaffold(tmp_path)
    assert not result.inferred
    assert [c.name for c in load_manifest(tmp_path).components("example")] == ["greeter"]


def test_workflow_takes_every_input_and_runs_the_vendored_action(tmp_path: Path) -> None:
    scaffold(tmp_path)
    workflow = yaml.safe_load((tmp_path / WORKFLOW_PATH).read_text())
    assert workflow["run-name"] == "ccs ${{ inputs.session }}"
    inputs = workflow[True]["workflow_dispatch"]["inputs"]  # YAML 1.1 reads `on` as true
    assert set(inputs) == {"session", "branch", "callback", "mode", "config", "matrix",
                           "max-parallel"}
    assert inputs["max-parallel"]["default"] == "8"
    assert all(spec["type"] == "string" for spec in inputs.values())
    job = workflow["jobs"]["child"]
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    (run,) = [s for s in job["steps"] if s.get("uses") == "./.github/actions/ccs"]
    assert run["with"]["entry"] == "${{ toJSON(matrix) }}"
    assert {k: v for k, v in run["with"].items() if k != "entry"} == {
        name: f"${{{{ inputs.{name} }}}}" for name in WORKFLOW_INPUTS
        if name not in ("matrix", "max-parallel")}
    assert "env" not in run  # the example coder needs no secret
    assert workflow["permissions"] == {}


def test_the_transcript_is_kept_as_an_artifact_even_when_the_job_fails(tmp_path: Path) -> None:
    scaffold(tmp_path)
    steps = yaml.safe_load((tmp_path / WORKFLOW_PATH).read_text())["jobs"]["child"]["steps"]
    names = [step.get("uses") or step.get("name") for step in steps]
    upload = steps[names.index(UPLOAD_ARTIFACT.split(" #")[0])]
    assert names.index(upload["uses"]) > names.index("./.github/actions/ccs")
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "${{ runner.temp }}/ccs-transcript"
    assert upload["with"]["name"] == "ccs-transcript-${{ matrix.child }}"
    link = steps[names.index(upload["uses"]) + 1]
    assert "steps.transcript.outputs.artifact-url" in link["env"]["ARTIFACT_URL"]
    assert "GITHUB_STEP_SUMMARY" in link["run"] and "${{" not in link["run"]


def test_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    workflow = tmp_path / WORKFLOW_PATH
    workflow.parent.mkdir(parents=True)
    workflow.write_text("mine\n")
    with pytest.raises(ScaffoldExists) as caught:
        scaffold(tmp_path)
    assert caught.value.paths == [WORKFLOW_PATH]
    assert not (tmp_path / ".github" / "ccs.yml").exists()
    assert workflow.read_text() == "mine\n"


def test_a_dangling_symlink_counts_as_existing(tmp_path: Path) -> None:
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "ccs.yml").symlink_to(tmp_path / "elsewhere.yml")
    with pytest.raises(ScaffoldExists):
        scaffold(tmp_path)
    assert not (tmp_path / "elsewhere.yml").exists()


def test_force_rewrites_the_workflow_and_keeps_the_manifest(tmp_path: Path) -> None:
    # DESIGN §6a: `--force` upgrades the workflow; an existing manifest is kept as written.
    manifest = tmp_path / ".github" / "ccs.yml"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("old\n")
    (tmp_path / WORKFLOW_PATH).parent.mkdir(parents=True)
    (tmp_path / WORKFLOW_PATH).write_text("old workflow\n")
    result = scaffold(tmp_path, force=True)
    assert manifest.read_text() == "old\n"
    assert result.kept[0].startswith(".github/ccs.yml (")  # kept, and why it is not used
    assert "the workflow uses the default timeouts" in result.kept[0]
    assert (tmp_path / WORKFLOW_PATH).read_text() != "old workflow\n"


def test_agent_replaces_only_the_coder_section(tmp_path: Path) -> None:
    scaffold(tmp_path)
    manifest = tmp_path / ".github" / "ccs.yml"
    before = manifest.read_text().replace("parallel: 8", "parallel: 3  # my own comment")
    manifest.write_text(before)
    scaffold(tmp_path, force=True, agent="codex")
    after = manifest.read_text()
    assert "  agent: codex" in after and "env: [OPENAI_API_KEY]" in after
    assert "tools/coder.py" not in after
    assert "parallel: 3  # my own comment" in after
    assert after.split("coder:")[0] == before.split("coder:")[0]
    assert after.split("\ntest:")[1] == before.split("\ntest:")[1]
    parsed = load_manifest(tmp_path)
    assert parsed.coder.agent == "codex" and parsed.parallel == 3


@pytest.mark.parametrize("agent", ["claude", "codex", "gemini", "aider", "openhands"])
def test_init_with_an_agent_writes_a_valid_manifest_with_its_secret(tmp_path: Path,
                                                                    agent: str) -> None:
    scaffold(tmp_path, agent=agent)
    parsed = load_manifest(tmp_path)
    assert parsed.coder.agent == agent and len(parsed.coder.env) == 1


def test_check_warns_about_a_workflow_that_still_grants_contents_write(tmp_path: Path) -> None:
    from service.cli.manifest import workflow_warning

    scaffold(tmp_path)
    assert workflow_warning(tmp_path) is None
    workflow = tmp_path / WORKFLOW_PATH
    workflow.write_text(workflow.read_text().replace("contents: read", "contents: write"))
    warning = workflow_warning(tmp_path)
    assert warning and "contents: write" in warning and "ccs init --force" in warning
