"""GitHub Actions in the test GitHub: workflows, dispatches, runs, jobs, OIDC, webhooks."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from flask import Response, g, request

from tests.fakes.github_http import ApiError, HttpLayer, json_response
from tests.fakes.github_routes import REPO, body_field, paginate, resolve_commit
from tests.fakes.github_state import Job, Repository, Workflow, WorkflowRun, now_iso
from tests.fakes.github_webhooks import edit_repository, edit_sender, recorded_payload

if TYPE_CHECKING:
    from tests.fakes.github import FakeGitHub

# job_runner(run, entry, inputs) -> conclusion ("success", "failure", "cancelled", ...)
JobRunner = Callable[[WorkflowRun, dict[str, Any], dict[str, str]], str]

MAX_INPUTS = 25
MAX_INPUTS_CHARS = 65_535
MAX_MATRIX = 256


def matrix_entries(inputs: dict[str, str]) -> list[dict[str, Any]]:
    """Return the matrix entries a dispatch's `matrix` input asks for (one empty entry if none)."""
    try:
        include = json.loads(inputs.get("matrix", "")).get("include")
    except (ValueError, AttributeError):
        return [{}]
    return include if isinstance(include, list) and include else [{}]


def job_name(entry: dict[str, Any]) -> str:
    """Name a matrix job the way Actions does: the job id and the entry's scalar values."""
    values = [str(value) for value in entry.values() if isinstance(value, str | int | float)]
    return f"child ({', '.join(values)})" if values else "child"


def validate_dispatch(gh: FakeGitHub, found: Repository) -> tuple[str, dict[str, str], bool]:
    """Check a dispatch body as GitHub does; return (ref, inputs, return_run_details)."""
    ref = body_field("ref")
    inputs = body_field("inputs", dict, required=False) or {}
    details = body_field("return_run_details", bool, required=False)
    if details is not None and gh.dispatch_details_unsupported:
        raise ApiError(gh.dispatch_details_unsupported,
                       'Invalid request.\n\n"return_run_details" is not a permitted key.')
    if len(inputs) > MAX_INPUTS:
        raise ApiError(422, f"you may only define up to {MAX_INPUTS} `inputs` for a "
                            "workflow_dispatch event")
    for key, value in inputs.items():
        if not isinstance(value, str):
            raise ApiError(422, f"Invalid request.\n\nFor '{key}', {value!r} is not a string.")
    if sum(len(value) for value in inputs.values()) > MAX_INPUTS_CHARS:
        raise ApiError(422, "inputs are too large")
    if resolve_commit(found, ref.removeprefix("refs/heads/")) is None:
        raise ApiError(422, f"No ref found for: {ref}")
    return ref.removeprefix("refs/heads/"), inputs, bool(details)


def register_actions_routes(http: HttpLayer, gh: FakeGitHub) -> None:
    """Register workflow, dispatch, run, job and cancel routes."""
    route = http.route

    def find_workflow(found: Repository, workflow_id: str) -> Workflow:
        for workflow in found.workflows.values():
            if workflow_id in (workflow.file_name, str(workflow.id)):
                return workflow
        raise ApiError(404, "Not Found")

    def find_run(owner: str, repo: str, run_id: str) -> tuple[Repository, WorkflowRun]:
        found = gh._visible_repo(owner, repo)
        run = gh._runs.get(int(run_id))
        if run is None or run.repo != found.full_name:
            raise ApiError(404, "Not Found")
        return found, run

    def list_runs(found: Repository, runs: list[WorkflowRun]) -> Response:
        args = request.args
        selected = [
            run for run in sorted(runs, key=lambda r: -r.id)
            if args.get("branch") in (None, run.ref)
            and args.get("event") in (None, "workflow_dispatch")
            and args.get("status") in (None, run.status, run.conclusion)
            and args.get("head_sha") in (None, run.head_sha)
        ]
        page, headers = paginate(selected)
        body = {"total_count": len(selected),
                "workflow_runs": [gh.render.run(found, run) for run in page]}
        return json_response(body, 200, headers)

    @route("GET", REPO + "/actions/workflows/{workflow_id}")
    def get_workflow(owner: str, repo: str, workflow_id: str) -> Response:
        found = gh._visible_repo(owner, repo)
        return json_response(gh.render.workflow(found, find_workflow(found, workflow_id)))

    @route("POST", REPO + "/actions/workflows/{workflow_id}/dispatches")
    def dispatch(owner: str, repo: str, workflow_id: str) -> Response:
        found = gh._writable_repo(owner, repo, "actions")
        workflow = find_workflow(found, workflow_id)
        ref, inputs, details = validate_dispatch(gh, found)
        run = gh._start_run(found, workflow, ref, inputs, g.user)
        if not details:
            return Response(status=204)
        return json_response({"workflow_run_id": run.id,
                              "run_url": f"{gh.url}/repos/{found.full_name}/actions/runs/"
                                         f"{run.id}",
                              "html_url": gh.render.run(found, run)["html_url"]})

    @route("GET", REPO + "/actions/workflows/{workflow_id}/runs")
    def list_workflow_runs(owner: str, repo: str, workflow_id: str) -> Response:
        found = gh._visible_repo(owner, repo)
        workflow = find_workflow(found, workflow_id)
        return list_runs(found, [run for run in gh.runs(found.full_name)
                                 if run.workflow is workflow])

    @route("GET", REPO + "/actions/runs")
    def list_repo_runs(owner: str, repo: str) -> Response:
        found = gh._visible_repo(owner, repo)
        return list_runs(found, gh.runs(found.full_name))

    @route("GET", REPO + "/actions/runs/{run_id}")
    def get_run(owner: str, repo: str, run_id: str) -> Response:
        found, run = find_run(owner, repo, run_id)
        return json_response(gh.render.run(found, run))

    @route("GET", REPO + "/actions/runs/{run_id}/jobs")
    def list_jobs(owner: str, repo: str, run_id: str) -> Response:
        found, run = find_run(owner, repo, run_id)
        page, headers = paginate(list(run.jobs))
        body = {"total_count": len(run.jobs),
                "jobs": [gh.render.job(found, run, job) for job in page]}
        return json_response(body, 200, headers)

    @route("GET", REPO + "/actions/jobs/{job_id}/logs")
    def job_logs(owner: str, repo: str, job_id: str) -> Response:
        # GitHub answers with a link, valid for a minute, to the log as plain text.
        found = gh._visible_repo(owner, repo)
        job = next((job for run in gh.runs(found.full_name) for job in run.jobs
                    if str(job.id) == job_id), None)
        if job is None:
            raise ApiError(404, "Not Found")
        ticket = secrets.token_urlsafe(16)
        with gh.lock:
            log_tickets[ticket] = job
        location = f"{gh.url}/_logs/jobs/{job.id}/signedlogcontent?urlSignature={ticket}"
        return Response("", status=302, headers={"Location": location})

    log_tickets: dict[str, Job] = {}

    def signed_log(job_id: str) -> Response:
        # The download link needs no token (GitHub's is signed), and works once here.
        with gh.lock:
            job = log_tickets.pop(request.args.get("urlSignature", ""), None)
        if job is None or str(job.id) != job_id:
            return Response("Signature not valid", status=403, mimetype="text/plain")
        gh.log_downloads += 1
        return Response(job.log, status=200, mimetype="text/plain")

    http.app.add_url_rule("/_logs/jobs/<job_id>/signedlogcontent", endpoint="job_log_download",
                          view_func=signed_log, methods=["GET"])

    @route("POST", REPO + "/actions/runs/{run_id}/cancel")
    def cancel_run(owner: str, repo: str, run_id: str) -> Response:
        _found, run = find_run(owner, repo, run_id)
        if run.status == "completed":
            raise ApiError(409, "Cannot cancel a workflow run that is completed.")
        gh.cancel_run(run)
        return json_response({}, 202)


def register_oidc_routes(http: HttpLayer, gh: FakeGitHub) -> None:
    """Register the Actions ID-token endpoint and the issuer's discovery documents."""
    app = http.app

    @app.get("/_oidc/token")
    def oidc_token() -> Response:
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        grant = gh.oidc.grant_for(credential) if scheme.lower() == "bearer" else None
        if grant is None:
            raise ApiError(401, "Bad credentials")
        audience = request.args.get("audience") or f"https://github.com/{grant.repository}"
        return json_response({"count": 1, "value": gh.oidc.token(grant, audience)})

    @app.get("/_oidc/.well-known/jwks")
    def oidc_jwks() -> Response:
        return json_response(gh.oidc.jwks())

    @app.get("/_oidc/.well-known/openid-configuration")
    def oidc_configuration() -> Response:
        return json_response(gh.oidc.openid_configuration(gh.oidc_jwks_url))


class RunSimulator:
    """Move dispatched runs through queued → in_progress → completed, sending webhooks."""

    def __init__(self, gh: FakeGitHub, max_parallel: int = 8) -> None:
        """Run jobs of `gh` on a pool of `max_parallel` threads."""
        self.gh = gh
        self.pool = ThreadPoolExecutor(max_workers=max_parallel,
                                       thread_name_prefix="fake-actions")
        self._lock = threading.Lock()

    def start(self, run: WorkflowRun) -> None:
        """Hand every job of a new run to the job runner (unless jobs are finished by hand)."""
        if self.gh.job_runner is None:
            return
        for job in run.jobs:
            self.pool.submit(self._run_job, run, job)

    def _run_job(self, run: WorkflowRun, job: Job) -> None:
        """Run one job with the job runner and record its conclusion."""
        with self.gh.lock:
            if job.status == "completed":
                return
            job.status, job.started_at = "in_progress", now_iso()
            run.status, run.updated_at = "in_progress", now_iso()
        runner = self.gh.job_runner
        try:
            conclusion = runner(run, job.entry, run.inputs) if runner else "failure"
        except Exception as error:  # noqa: BLE001 - a crashing runner is a failed job
            job.log += f"job runner raised {error!r}\n"
            conclusion = "failure"
        self.finish(run, job, "cancelled" if run.cancel_requested else conclusion)

    def finish(self, run: WorkflowRun, job: Job, conclusion: str) -> None:
        """Complete a job, then the run when it was the last; send both webhooks."""
        with self.gh.lock:
            if job.status == "completed":
                return
            job.status, job.conclusion, job.completed_at = "completed", conclusion, now_iso()
            job.started_at = job.started_at or job.completed_at
            run_done = all(other.status == "completed" for other in run.jobs)
            if run_done:
                conclusions = {other.conclusion for other in run.jobs}
                run.conclusion = ("cancelled" if run.cancel_requested else
                                  "success" if conclusions <= {"success", "skipped"}
                                  else "failure")
                run.status = "completed"
            run.updated_at = now_iso()
        self.gh.send_webhook("workflow_job", self.job_payload(run, job))
        if run_done:
            self.gh.send_webhook("workflow_run", self.run_payload(run))

    def _common(self, payload: dict[str, Any], run: WorkflowRun) -> dict[str, Any]:
        """Point a recorded payload at this run's repository and actor."""
        repo = self.gh._repos[run.repo]
        edit_repository(payload, self.gh.render.repository(repo, self.gh.clone_url(run.repo)))
        edit_sender(payload, self.gh.render.user(run.actor))
        return payload

    def job_payload(self, run: WorkflowRun, job: Job) -> dict[str, Any]:
        """Return a `workflow_job` `completed` payload for `job`."""
        payload = recorded_payload("workflow_job.completed.2.json")
        repo = self.gh._repos[run.repo]
        rendered = self.gh.render.job(repo, run, job)
        payload["workflow_job"] = {**payload["workflow_job"], **rendered}
        return self._common(payload, run)

    def run_payload(self, run: WorkflowRun) -> dict[str, Any]:
        """Return a `workflow_run` `completed` payload for `run`."""
        payload = recorded_payload("workflow_run.completed.1.json")
        repo = self.gh._repos[run.repo]
        payload["workflow_run"] = {**payload["workflow_run"], **self.gh.render.run(repo, run)}
        payload["workflow"] = {**payload["workflow"],
                               **self.gh.render.workflow(repo, run.workflow)}
        return self._common(payload, run)
