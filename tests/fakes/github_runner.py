"""The default job runner: run a job the way a GitHub-hosted runner would.

By default it runs ccs's own `action/` for the entry; with `workflow_file=True` it runs the
job of the repository's own workflow file (what `ccs init` wrote there) step by step
(tests/fakes/github_steps.py). Either way the job's token carries the job's permissions:
the contract's `contents: read, id-token: write` for the bare action.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.fakes.github_oidc import OidcGrant
from tests.fakes.github_render import HTML
from tests.fakes.github_state import Job, WorkflowRun

if TYPE_CHECKING:
    from tests.fakes.github import FakeGitHub

PROJECT_ROOT = Path(__file__).resolve().parents[2]
JOB_PERMISSIONS = {"contents": "read", "id-token": "write"}  # DESIGN §6a


class ActionJobRunner:
    """Run `python -m action job` for one matrix entry with the runner's environment."""

    def __init__(self, gh: FakeGitHub, timeout: float = 600, *, workflow_file: bool = False,
                 tools: list[Path] | None = None,
                 image_env: dict[str, str] | None = None) -> None:
        """Run jobs for `gh`, each for at most `timeout` seconds.

        `workflow_file`: run the repository's workflow file; `tools`: folders the runner
        image has first on PATH (an agent CLI it carries, say); `image_env`: variables the
        runner image sets.
        """
        self.gh = gh
        self.timeout = timeout
        self.workflow_file = workflow_file
        self.tools = list(tools or [])
        self.image_env = dict(image_env or {})

    def environment(self, run: WorkflowRun, entry: dict[str, Any], inputs: dict[str, str],
                    workspace: Path,
                    permissions: dict[str, str] | None = None) -> dict[str, str]:
        """Return the environment GitHub gives the job, plus ccs's CCS_JOB_* inputs."""
        gh = self.gh
        job = gh.job_for(run, entry)
        permissions = JOB_PERMISSIONS if permissions is None else permissions
        grant = OidcGrant(run.repo, run.id, f"refs/heads/{run.ref}", run.head_sha,
                          run.workflow.file_name, run.actor.login)
        outputs = workspace.parent / "outputs"
        outputs.mkdir(exist_ok=True)
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("CCS_", "GITHUB_", "ACTIONS_", "RUNNER_"))}
        env.update({
            "CI": "true", "GITHUB_ACTIONS": "true",
            "CCS_JOB_ENTRY": json.dumps(entry), "CCS_JOB_CONFIG": inputs.get("config", "{}"),
            "CCS_JOB_SESSION": inputs.get("session", ""),
            "CCS_JOB_BRANCH": inputs.get("branch", ""),
            "CCS_JOB_CALLBACK": inputs.get("callback", ""),
            "CCS_JOB_MODE": inputs.get("mode", "component"),
            "CCS_JOB_REPO_URL": gh.clone_url(run.repo),
            "CCS_JOB_TOKEN": gh.add_token(login="github-actions[bot]", ttl=3600,
                                          permissions=permissions, repositories=[run.repo]),
            "GITHUB_WORKSPACE": str(workspace), "GITHUB_REPOSITORY": run.repo,
            "GITHUB_REPOSITORY_OWNER": run.repo.split("/")[0],
            "GITHUB_RUN_ID": str(run.id), "GITHUB_RUN_NUMBER": str(run.run_number),
            "GITHUB_RUN_ATTEMPT": "1", "GITHUB_JOB": "child",
            "GITHUB_REF": f"refs/heads/{run.ref}", "GITHUB_REF_NAME": run.ref,
            "GITHUB_SHA": run.head_sha, "GITHUB_EVENT_NAME": "workflow_dispatch",
            "GITHUB_ACTOR": run.actor.login, "GITHUB_SERVER_URL": HTML,
            "GITHUB_API_URL": gh.url, "GITHUB_WORKFLOW": run.workflow.name,
            "GITHUB_STEP_SUMMARY": str(outputs / f"summary-{job.id}.md"),
            "GITHUB_OUTPUT": str(outputs / f"output-{job.id}.txt"),
            "GITHUB_ENV": str(outputs / f"env-{job.id}.txt"),
            "RUNNER_TEMP": str(workspace.parent), "RUNNER_OS": "Linux",
            "RUNNER_NAME": f"GitHub Actions {job.id}",
        })
        if permissions.get("id-token") == "write":
            # GitHub's request URL already carries a query; clients append `&audience=`.
            env["ACTIONS_ID_TOKEN_REQUEST_URL"] = f"{gh.url}/_oidc/token?api-version=2.0"
            env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = gh.oidc.grant(grant)
        env.update(self.image_env)
        if self.tools:
            env["PATH"] = os.pathsep.join([*map(str, self.tools), env.get("PATH", "")])
        return env

    def action_inputs(self, entry: dict[str, Any], inputs: dict[str, str],
                      token: str) -> dict[str, str]:
        """Return the `with:` inputs the ccs workflow passes to the action for one entry."""
        passed = {"entry": json.dumps(entry), "token": token}
        for name in ("config", "session", "branch", "callback", "mode"):
            if name in inputs or name in ("config", "session", "callback"):
                passed[name] = inputs.get(name, "")
        return passed

    def __call__(self, run: WorkflowRun, entry: dict[str, Any], inputs: dict[str, str]) -> str:
        """Run the job and return its conclusion (`success`, `failure`, `timed_out`)."""
        job = self.gh.job_for(run, entry)
        with tempfile.TemporaryDirectory(prefix=f"job-{job.id}-", dir=self.gh.root) as temp:
            workspace = Path(temp) / "workspace"
            workspace.mkdir()
            text = self._workflow_text(run)
            if text is not None:
                return self._run_workflow(job, run, entry, inputs, workspace, text)
            env = self.environment(run, entry, inputs, workspace)
            if self._simulator() is not None:
                return self._run_composite(job, env, entry, inputs, workspace)
            return self._run_module(job, env, workspace)

    def _workflow_text(self, run: WorkflowRun) -> str | None:
        """Return the dispatched workflow file at the run's commit, when this runner runs it."""
        if not self.workflow_file:
            return None
        path = f".github/workflows/{run.workflow.file_name}"
        text = self.gh.read_file(run.repo, run.head_sha, path)
        assert text is not None, f"{run.repo} has no {path} at {run.head_sha[:12]}"
        return text

    def _run_workflow(self, job: Job, run: WorkflowRun, entry: dict[str, Any],
                      inputs: dict[str, str], workspace: Path, text: str) -> str:
        """Run the job of the repository's own workflow file, step by step."""
        from tests.fakes import actions_env
        from tests.fakes.github_steps import StepsRun, run_steps, workflow_job

        spec, permissions = workflow_job(text)
        env = self.environment(run, entry, inputs, workspace, permissions)
        token = env.pop("CCS_JOB_TOKEN")
        for name in [key for key in env if key.startswith("CCS_JOB_")]:
            if name != "CCS_JOB_REPO_URL":  # the test GitHub's git URL, as the runner's own
                del env[name]
        secrets = dict(self.gh.repository(run.repo).secrets)
        github = {"token": token, "workspace": str(workspace), "repository": run.repo,
                  "run_id": str(run.id), "sha": run.head_sha, "ref": f"refs/heads/{run.ref}",
                  "server_url": HTML}
        scope = actions_env._Scope(
            dispatch_inputs(text, inputs), {}, "success", github,
            {"matrix": entry, "secrets": secrets,
             "runner": {"temp": env["RUNNER_TEMP"], "os": "Linux"}})
        minutes = float(spec.get("timeout-minutes") or 360)
        deadline = time.monotonic() + min(self.timeout, minutes * 60)
        steps_run = StepsRun(self.gh, run, job, workspace, env, scope, deadline,
                             masks=[*secrets.values(), token])
        try:
            return run_steps(steps_run, spec["steps"])
        except subprocess.TimeoutExpired:
            job.log += "the job passed its timeout-minutes\n"
            return "timed_out"

    @staticmethod
    def _simulator() -> Any:
        """Return tests.fakes.actions_env when it is there (it runs action.yml's steps)."""
        try:
            from tests.fakes import actions_env
        except ImportError:
            return None
        return actions_env

    def _run_composite(self, job: Job, env: dict[str, str], entry: dict[str, Any],
                       inputs: dict[str, str], workspace: Path) -> str:
        """Run `action/action.yml` step by step with the Actions simulator."""
        env["GITHUB_TOKEN"] = env["CCS_JOB_TOKEN"]
        with_inputs = self.action_inputs(entry, inputs, env["CCS_JOB_TOKEN"])
        # The action's steps set CCS_JOB_* from its inputs; the repository URL stays.
        for name in [key for key in env if key.startswith("CCS_JOB_")]:
            if name != "CCS_JOB_REPO_URL":
                del env[name]
        try:
            completed = self._simulator().run_action(
                PROJECT_ROOT / "action", with_inputs, env, workspace, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            job.log += f"timed out after {self.timeout}s\n"
            return "timed_out"
        job.log += completed.log
        return completed.conclusion

    def _run_module(self, job: Job, env: dict[str, str], workspace: Path) -> str:
        """Run `python -m action job` directly (when no Actions simulator is available)."""
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                          env.get("PYTHONPATH")]))
        try:
            done = subprocess.run(
                [sys.executable, "-m", "action", "job"], cwd=workspace, env=env,
                capture_output=True, text=True, timeout=self.timeout, check=False,
            )
        except subprocess.TimeoutExpired:
            job.log += f"timed out after {self.timeout}s\n"
            return "timed_out"
        job.log += done.stdout + done.stderr
        return "success" if done.returncode == 0 else "failure"


def dispatch_inputs(workflow_text: str, given: dict[str, str]) -> dict[str, str]:
    """Return the dispatch's inputs with the workflow's defaults for those not given."""
    import yaml

    workflow = yaml.safe_load(workflow_text)
    trigger = (workflow.get(True) or workflow.get("on") or {}).get("workflow_dispatch") or {}
    declared = trigger.get("inputs") or {}
    return {**{name: str(spec.get("default", "")) for name, spec in declared.items()}, **given}
