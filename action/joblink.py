"""Find this job's own page, so a result's log_url points at the job, not only its run.

A job knows its run id but not its job id; the run's job list (one API read with the job's
token) names it. Where that read is refused (a private repository whose job has no
`actions: read`), the result keeps the run's page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from action.callback import DeliveryError, http

TIMEOUT = 10.0


def pick_job(jobs: list[dict], child: str, component: str) -> dict | None:
    """Return the listed job that runs `child` (named `ccs <component>`, or by its entry)."""
    def words(job: dict) -> set[str]:
        return set(re.findall(r"[A-Za-z0-9_-]+", str(job.get("name") or "")))

    running = [job for job in jobs if job.get("status") != "completed"] or jobs
    for candidate in ([j for j in running if child in words(j)],
                      [j for j in running if j.get("name") == f"ccs {component}"]):
        if len(candidate) == 1:
            return candidate[0]
    return None


def find_job(environ: Mapping[str, str], token: str | None, child: str,
             component: str) -> tuple[str | None, int | None]:
    """Return this job's (html_url, id), or (None, None) when it cannot be read."""
    api = environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    repository, run = environ.get("GITHUB_REPOSITORY", ""), environ.get("GITHUB_RUN_ID", "")
    if not (repository and run.isdigit()):
        return None, None
    # The latest attempt's jobs: the one this job belongs to while it runs.
    url = f"{api}/repos/{repository}/actions/runs/{run}/jobs?per_page=100"
    headers = {"Accept": "application/vnd.github+json", "User-Agent": "ccs-action"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        answer = http("GET", url, headers, None, TIMEOUT)
        jobs = json.loads(answer.body).get("jobs") if answer.status == 200 else None
    except (OSError, ValueError, AttributeError, DeliveryError):
        return None, None
    job = pick_job([j for j in jobs if isinstance(j, dict)] if isinstance(jobs, list) else [],
                   child, component)
    if job is None or not isinstance(job.get("id"), int):
        return None, None
    link = job.get("html_url")
    return (link if isinstance(link, str) and link.startswith("https://") else None), job["id"]
