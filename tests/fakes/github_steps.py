"""A workflow job's steps, run the way a GitHub-hosted runner runs them (ActionJobRunner).

The job is the one in the repository's own workflow file at the dispatched commit. What
GitHub does that matters to ccs is done here: the job's token carries the job's
`permissions:` (so a `contents: read` job cannot push), the OIDC request variables exist
only with `id-token: write`, `secrets.*` resolve from the repository's secrets and are
masked in the log (not in artifacts), and the official actions run as stand-ins:
`actions/checkout` fetches the commit (persisting the token in .git/config unless
`persist-credentials: false`, as the real one does), `actions/setup-python` puts the
machine's Python first on PATH, `actions/upload-artifact` copies the files into the test
GitHub's artifact store. A local `./` action runs through the composite simulator. Any
other `uses:`, an official action not pinned by full sha, or an expression inside `run:`
fails the job, so a workflow change cannot pass here by being ignored.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tests.fakes import actions_env
from tests.fakes.github_render import HTML
from tests.fakes.github_state import Job, WorkflowRun, next_id

if TYPE_CHECKING:
    from tests.fakes.github import FakeGitHub

PINNED = re.compile(r"^actions/(checkout|setup-python|upload-artifact)@[0-9a-f]{40}$")
# What a job gets when neither the job nor the workflow says (a repository's default).
DEFAULT_PERMISSIONS = {"contents": "write", "id-token": "none"}


def workflow_job(text: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the workflow's one job and the permissions its token gets."""
    workflow = yaml.safe_load(text)
    (job,) = workflow["jobs"].values()
    permissions = job.get("permissions", workflow.get("permissions", DEFAULT_PERMISSIONS))
    return job, dict(permissions or {})


@dataclass
class StepsRun:
    """One job in progress: its scope, environment, files and what it printed."""

    gh: FakeGitHub
    run: WorkflowRun
    job: Job
    workspace: Path
    env: dict[str, str]
    scope: actions_env._Scope
    deadline: float
    masks: list[str] = field(default_factory=list)

    def mask(self, text: str) -> str:
        """Return `text` with the job's secrets and masked values replaced by ***."""
        for value in sorted(filter(None, self.masks), key=len, reverse=True):
            text = text.replace(value, "***")
        return text

    def say(self, text: str) -> None:
        """Append to the job's log, masked."""
        self.job.log += self.mask(text)

    def render(self, value: Any) -> str:
        """Render a `with:`/`env:` value (YAML's true/false reach an action as text)."""
        if isinstance(value, bool):
            return "true" if value else "false"
        return actions_env.render(str(value), self.scope)


def run_steps(steps_run: StepsRun, steps: list[dict[str, Any]]) -> str:
    """Run the job's steps in order; return its conclusion."""
    for index, step in enumerate(steps):
        name = step.get("name") or step.get("uses") or f"step {index + 1}"
        condition = str(step.get("if", "success()")).strip().removeprefix("${{")
        condition = condition.removesuffix("}}")
        if not re.search(r"\b(always|success|failure|cancelled)\(\)", condition):
            condition = f"success() && ({condition})"
        if not actions_env.evaluate(condition, steps_run.scope):
            steps_run.say(f"--- {name}: skipped\n")
            continue
        if time.monotonic() > steps_run.deadline:
            return "timed_out"
        steps_run.say(f"--- {name}\n")
        ok, outputs = _step(steps_run, step)
        if step.get("id"):
            outcome = "success" if ok else "failure"
            steps_run.scope.steps[step["id"]] = {**outputs, "__outcome": outcome,
                                                 "__conclusion": outcome}
        if not ok and steps_run.scope.job_status == "success":
            steps_run.scope.job_status = "failure"
    return "success" if steps_run.scope.job_status == "success" else "failure"


def _step(steps_run: StepsRun, step: dict[str, Any]) -> tuple[bool, dict[str, str]]:
    with_inputs = {key: steps_run.render(value) for key, value in (step.get("with") or {}).items()}
    step_env = {**steps_run.env,
                **{key: steps_run.render(value) for key, value in (step.get("env") or {}).items()}}
    if "run" in step:
        return _run_script(steps_run, step["run"], step_env)
    uses = str(step["uses"])
    if uses.startswith("./"):
        return _local_action(steps_run, steps_run.workspace / uses, with_inputs, step_env)
    assert PINNED.match(uses), f"{uses}: official actions must be pinned by full commit sha"
    kind = uses.split("@")[0].split("/")[1]
    return {"checkout": _checkout, "setup-python": _setup_python,
            "upload-artifact": _upload_artifact}[kind](steps_run, with_inputs)


def _run_script(steps_run: StepsRun, script: str,
                env: dict[str, str]) -> tuple[bool, dict[str, str]]:
    """Run a `run:` step with bash -eo pipefail, as GitHub does."""
    assert "${{" not in script, "expressions inside run: are unsafe (pass them through env:)"
    with tempfile.TemporaryDirectory(prefix="step-") as scratch:
        files = {key: Path(scratch) / key for key in ("output", "summary", "env")}
        for path in files.values():
            path.touch()
        (Path(scratch) / "run.sh").write_text(script, encoding="utf-8")
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", f"{scratch}/run.sh"],
            cwd=steps_run.workspace, capture_output=True, text=True, check=False,
            timeout=max(1.0, steps_run.deadline - time.monotonic()),
            env={**env, "GITHUB_OUTPUT": str(files["output"]),
                 "GITHUB_STEP_SUMMARY": str(files["summary"]), "GITHUB_ENV": str(files["env"])})
        steps_run.say(done.stdout + done.stderr)
        steps_run.job.summary += files["summary"].read_text(encoding="utf-8")
        steps_run.env.update(actions_env._read_outputs(files["env"]))
        return done.returncode == 0, actions_env._read_outputs(files["output"])


def _local_action(steps_run: StepsRun, action_dir: Path, inputs: dict[str, str],
                  env: dict[str, str]) -> tuple[bool, dict[str, str]]:
    """Run a composite action from the checkout (`uses: ./...`)."""
    completed = actions_env.run_action(action_dir, inputs, env, steps_run.workspace,
                                       timeout=max(1.0, steps_run.deadline - time.monotonic()),
                                       github=steps_run.scope.github)
    steps_run.masks += [c.message for c in completed.commands if c.name == "add-mask"]
    steps_run.say(completed.log)
    steps_run.job.summary += completed.summary
    return completed.conclusion == "success", completed.outputs


def _checkout(steps_run: StepsRun, inputs: dict[str, str]) -> tuple[bool, dict[str, str]]:
    """actions/checkout: fetch the run's commit into the workspace."""
    token = inputs.get("token") or steps_run.scope.github["token"]
    header = "AUTHORIZATION: basic " + base64.b64encode(
        f"x-access-token:{token}".encode()).decode()
    auth = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraheader",
            "GIT_CONFIG_VALUE_0": header, "GIT_TERMINAL_PROMPT": "0"}
    url, sha = steps_run.gh.clone_url(steps_run.run.repo), steps_run.run.head_sha
    commands = [["init", "-q"], ["remote", "add", "origin", url],
                ["fetch", "-q", "--depth=1", "origin", sha], ["checkout", "-q", "--detach", sha]]
    if inputs.get("persist-credentials", "true") != "false":
        # What the real action leaves for later steps: the token in the checkout's config.
        commands.append(["config", "--local", "http.extraheader", header])
    for args in commands:
        done = subprocess.run(["git", *args], cwd=steps_run.workspace, capture_output=True,
                              text=True, env={**steps_run.env, **auth}, check=False)
        if done.returncode != 0:
            steps_run.say(f"checkout failed: {done.stderr}")
            return False, {}
    return True, {"commit": sha, "ref": f"refs/heads/{steps_run.run.ref}"}


def _setup_python(steps_run: StepsRun, inputs: dict[str, str]) -> tuple[bool, dict[str, str]]:
    """actions/setup-python: the machine's Python (whatever version was asked), first on PATH."""
    assert inputs.get("python-version"), "setup-python needs a python-version"
    location = Path(sys.executable).parent
    steps_run.env["PATH"] = f"{location}:{steps_run.env.get('PATH', '')}"
    steps_run.env["pythonLocation"] = str(location.parent)
    steps_run.say(f"setup-python: asked for {inputs['python-version']}, using {sys.executable}\n")
    return True, {"python-version": inputs["python-version"], "python-path": sys.executable}


def _upload_artifact(steps_run: StepsRun,
                     inputs: dict[str, str]) -> tuple[bool, dict[str, str]]:
    """actions/upload-artifact: copy the files into the test GitHub's artifact store."""
    source, name = Path(inputs["path"]), inputs["name"]
    if not source.exists() or not any(source.rglob("*")):
        if inputs.get("if-no-files-found", "warn") == "error":
            return False, {}
        return True, {}
    gh, run = steps_run.gh, steps_run.run
    target = gh.root / "artifacts" / f"{run.id}-{steps_run.job.id}-{name}"
    shutil.copytree(source, target, dirs_exist_ok=False)
    artifact_id = next_id()
    gh.artifacts[(steps_run.job.id, name)] = target
    url = f"{HTML}/{run.repo}/actions/runs/{run.id}/artifacts/{artifact_id}"
    return True, {"artifact-id": str(artifact_id), "artifact-url": url}
