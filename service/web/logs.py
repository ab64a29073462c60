"""GET /api/v1/sessions/<id>/children/<child_id>/log: what a child's job or local run printed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

from flask import Blueprint, Response

from service.adapters.db.models import ChildRow, SessionRow
from service.adapters.db.store import NotFound
from service.adapters.git_repo import GitError
from service.config.log_format import bind_log_context
from service.web.errors import ApiError
from service.web.state import require_api_token, services

bp = Blueprint("logs", __name__, url_prefix="/api/v1")
LOCAL_PREFIX = "local:"


class JobLogs(Protocol):
    """The one GitHub call this route needs, and the one that finds a job of a run."""

    def job_log(self, job_id: int) -> str | None:
        """Return the job's log text (bounded), or None when GitHub has none."""

    def run_jobs(self, run_id: int) -> list[dict]:
        """Return the run's jobs as {id, name, ...}."""


@bp.get("/sessions/<session_id>/children/<child_id>/log")
def child_log(session_id: str, child_id: str) -> Response:
    """Answer the child's log as plain text, secrets masked; 404 saying why when none."""
    require_api_token()
    session, child = _session_and_child(session_id, child_id)
    if session.repository.startswith(LOCAL_PREFIX):
        text = _local_log(session, child)
    else:
        text = _job_log(session, child)
    return Response(services().config.redact(text), mimetype="text/plain")


def _session_and_child(session_id: str, child_id: str) -> tuple[SessionRow, ChildRow]:
    bind_log_context(session=session_id)
    store = services().store
    try:
        session = store.session(session_id)
        child = store.child(child_id)
    except NotFound as error:
        raise ApiError(404, "not_found", str(error)) from None
    if child.session_id != session.id:
        raise ApiError(404, "not_found", f"session {session_id} has no child {child_id!r}")
    return session, child


def _job_log(session: SessionRow, child: ChildRow) -> str:
    """Return the log of the child's Actions job, through the GitHub REST API."""
    github: JobLogs = services().runtime.github(session.repository, session.installation_id)
    job_id = child.job_id or (_find_job(github, child) if child.run_id else None)
    if job_id is None:
        raise ApiError(404, "no_log", f"{child.component}: no job has run yet"
                       if child.run_id is None else
                       f"{child.component}: run {child.run_id} has no job for this child")
    try:
        text = github.job_log(job_id)
    except GitError as error:
        raise ApiError(502, "github_error", f"GitHub did not hand over the log of job "
                       f"{job_id}: {error}") from None
    if text is None:
        raise ApiError(404, "no_log", f"{child.component}: GitHub has no log for job {job_id} "
                       "(it may have expired)")
    return text


def _find_job(github: JobLogs, child: ChildRow) -> int | None:
    """Return the id of the run's job that ran this child (its name holds the child id or
    the component)."""
    assert child.run_id is not None
    try:
        jobs = github.run_jobs(child.run_id)
    except GitError as error:
        raise ApiError(502, "github_error", f"GitHub did not list the jobs of run "
                       f"{child.run_id}: {error}") from None
    named = [(set(re.findall(r"[A-Za-z0-9_]+", str(job.get("name") or ""))), job.get("id"))
             for job in jobs]
    for key in (child.id, "verify" if child.component == "_verify" else child.component):
        found = [job_id for words, job_id in named if key in words and job_id]
        if found:
            return int(found[0])
    return None


def _local_log(session: SessionRow, child: ChildRow) -> str:
    """Return what a local run of the child left in its repository's log folder."""
    from service.adapters.git_repo import GitRepository
    from service.adapters.local.logs import LogFolder, render
    from service.bootstrap import ccs_dir

    try:
        folder = LogFolder(ccs_dir(GitRepository(Path(session.repository[len(LOCAL_PREFIX):])))
                           / "logs")
    except (GitError, OSError) as error:
        raise ApiError(404, "no_log", f"the repository of session {session.id} cannot be "
                       f"read here: {error}") from None
    if child.component not in folder.components(session.id):
        raise ApiError(404, "no_log", f"{child.component}: no local log (the child has not "
                       "started, or `ccs prune` removed it)")
    return render(folder, session.id, child.component)
