"""One repository on GitHub: its facts (asked once) and the small calls the web side needs."""

from __future__ import annotations

import base64
import io
import re
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from github import GithubException

from action.logcap import CappedLog
from service.adapters.github.client import ApiClient, GitHubError, repo_path, translate

LOG_DOWNLOAD_TIMEOUT = 30

PERMISSION_LEVELS = ("admin", "maintain", "write", "triage", "read", "none")


def reply_marker(key: str) -> str:
    """Return the hidden marker of the reply to one delivery (only safe characters kept)."""
    return f"<!-- ccs:reply:{re.sub(r'[^A-Za-z0-9:._-]', '', key)[:80]} -->"


class RepoGitHub:
    """The GitHub calls ccs makes about one repository, through one installation's client."""

    def __init__(self, client: ApiClient, repository: str) -> None:
        self.client = client
        self.repository = repository
        self._facts: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def path(self, *parts: str) -> str:
        """Return the API path of something under this repository."""
        return repo_path(self.repository, *parts)

    def _repo_facts(self) -> dict[str, Any]:
        with self._lock:
            if self._facts is None:
                self._facts = self.client.get(self.path())
            return self._facts

    def default_branch(self) -> str:
        """Return the repository's default branch."""
        return str(self._repo_facts()["default_branch"])

    def clone_url(self) -> str:
        """Return the URL git fetches and pushes the repository with."""
        return str(self._repo_facts()["clone_url"])

    def permission(self, login: str) -> str:
        """Return `login`'s role: admin, maintain, write, triage, read or none."""
        try:
            body = self.client.get(self.path("collaborators", login, "permission"))
        except GitHubError as error:
            if error.status == 404:
                return "none"
            raise
        # role_name tells maintain and triage apart; `permission` folds them into write/read.
        for key in ("role_name", "permission"):
            value = body.get(key)
            if value in PERMISSION_LEVELS:
                return str(value)
        return "none"

    def add_reaction(self, comment_id: int, content: str = "eyes") -> None:
        """React to an issue comment (GitHub answers 200 when the reaction exists already)."""
        self.client.write("POST", self.path("issues", "comments", str(comment_id), "reactions"),
                          {"content": content})

    def reply(self, issue_number: int, body: str, key: str | None = None) -> int:
        """Post a comment on an issue or pull request; return its id.

        With `key` (a webhook delivery), the comment carries a hidden marker and is posted
        once: a delivery re-driven after a crash finds the reply it posted before.
        """
        if key is not None:
            mark = reply_marker(key)
            found = self.find_marked_comment(issue_number, mark)
            if found is not None:
                return found
            body = f"{mark}\n{body}"
        created = self.client.write("POST", self.path("issues", str(issue_number), "comments"),
                                    {"body": body})
        return int(created["id"])

    def find_marked_comment(self, issue_number: int, mark: str,
                            author: str | None = None) -> int | None:
        """Return the id of the issue's comment whose body opens with `mark`, or None."""
        page = 1
        while True:
            comments = self.client.get(self.path("issues", str(issue_number), "comments"),
                                       per_page=100, page=page)
            for comment in comments:
                login = (comment.get("user") or {}).get("login")
                if (comment.get("body") or "").startswith(mark) and author in (None, login):
                    return int(comment["id"])
            if len(comments) < 100:
                return None
            page += 1

    def run_jobs(self, run_id: int) -> list[dict[str, Any]]:
        """Return a run's jobs as {id, name, status, conclusion, html_url}."""
        jobs: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self.client.get(self.path("actions", "runs", str(run_id), "jobs"),
                                   per_page=100, page=page)
            batch = body.get("jobs") or []
            jobs += [{key: job.get(key) for key in ("id", "name", "status", "conclusion",
                                                    "html_url")} for job in batch]
            if len(batch) < 100 or len(jobs) >= int(body.get("total_count") or 0):
                return jobs
            page += 1

    def job_log(self, job_id: int) -> str | None:
        """Return a job's log as text (its head and tail when long), or None when GitHub
        has none (the job is unknown, or its logs expired)."""
        path = self.path("actions", "jobs", str(job_id), "logs")
        try:
            headers, _ = self.client.requester.requestJsonAndCheck("GET", path)
        except GithubException as error:
            if error.status in (404, 410):
                return None
            raise translate(error, f"GET {path}") from None
        location = headers.get("location")
        if not location or not self._may_fetch(location):
            raise GitHubError(f"GitHub GET {path} did not link to a log download")
        return _download_capped(location)

    def _may_fetch(self, location: str) -> bool:
        """Return True for an https link, or one on the API's own origin (GHES, tests)."""
        link, api = urlsplit(location), urlsplit(self.client.requester.base_url)
        return link.scheme == "https" or (link.scheme, link.netloc) == (api.scheme, api.netloc)

    def read_file(self, ref: str, path: str) -> str | None:
        """Return a file's text at `ref` through the contents API, or None when missing."""
        try:
            body = self.client.get(self.path("contents", path), ref=ref)
        except GitHubError as error:
            if error.status == 404:
                return None
            raise
        if not isinstance(body, dict) or body.get("type") != "file":
            return None
        return base64.b64decode(body.get("content") or "").decode("utf-8", errors="replace")


def _download_capped(url: str) -> str:
    """GET a signed download link (no token: it is signed) keeping the log's head and tail."""
    kept = io.BytesIO()
    capped = CappedLog(kept)
    try:
        with requests.get(url, stream=True, timeout=LOG_DOWNLOAD_TIMEOUT,
                          allow_redirects=False) as answer:
            if answer.status_code != 200:
                raise GitHubError(f"the job log download answered {answer.status_code}",
                                  status=answer.status_code)
            for chunk in answer.iter_content(65536):
                capped.write(chunk)
    except requests.RequestException as error:
        raise GitHubError(f"could not download the job log: {type(error).__name__}") from None
    capped.close()
    return kept.getvalue().decode("utf-8", errors="replace")
