"""The test GitHub serves git over HTTP and holds a job's token to its `permissions:`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.github import FakeGitHub
from tests.fakes.github_git_http import git_as as git

REPO = "octo/shop"
JOB_PERMISSIONS = {"contents": "read", "id-token": "write"}


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[FakeGitHub]:
    """Serve a test GitHub whose clone URLs are HTTP, with one repository."""
    with FakeGitHub.start(tmp_path, job_runner=None, git_http=True) as fake:
        fake.create_repository(REPO, files={"README.md": "hi\n"})
        yield fake


def call(gh: FakeGitHub, method: str, path: str, body: Any,
         token: str) -> tuple[int, Any]:
    """Send one REST request with `token`; return the status and the parsed answer."""
    request = urllib.request.Request(gh.url + path, data=json.dumps(body).encode(),
                                     method=method, headers={
                                         "Authorization": f"Bearer {token}",
                                         "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def clone_and_commit(gh: FakeGitHub, tmp_path: Path, token: str) -> Path:
    """Clone the repository over HTTP and commit one change on a ccs- branch."""
    clone = tmp_path / "clone"
    done = git(tmp_path, "clone", "-q", gh.clone_url(REPO), str(clone), token=token)
    assert done.returncode == 0, done.stderr
    (clone / "new.txt").write_text("work\n")
    for args in (("checkout", "-q", "-b", "ccs-x"), ("add", "-A"), ("commit", "-qm", "w")):
        assert git(clone, *args).returncode == 0
    return clone


def test_a_job_token_with_contents_read_clones_but_cannot_push(gh, tmp_path):
    token = gh.add_token(login="github-actions[bot]", permissions=JOB_PERMISSIONS)
    clone = clone_and_commit(gh, tmp_path, token)
    pushed = git(clone, "push", "-q", "origin", "HEAD:refs/heads/ccs-x", token=token)
    assert pushed.returncode != 0
    assert "403" in pushed.stderr or "denied" in pushed.stderr
    assert gh.branch_sha(REPO, "ccs-x") is None
    assert [(p.repo, p.status) for p in gh.refused_pushes] == [(REPO, 403)]


def test_a_token_that_may_write_pushes_over_http(gh, tmp_path):
    token = gh.add_token(permissions={"contents": "write"})
    clone = clone_and_commit(gh, tmp_path, token)
    pushed = git(clone, "push", "-q", "origin", "HEAD:refs/heads/ccs-x", token=token)
    assert pushed.returncode == 0, pushed.stderr
    assert gh.read_file(REPO, "ccs-x", "new.txt") == "work\n"


def test_a_push_without_credentials_is_asked_for_them(gh, tmp_path):
    clone = clone_and_commit(gh, tmp_path, gh.add_token())
    pushed = git(clone, "push", "-q", "origin", "HEAD:refs/heads/ccs-x")
    assert pushed.returncode != 0 and gh.branch_sha(REPO, "ccs-x") is None


def test_a_job_token_cannot_write_refs_or_merge_through_the_api(gh):
    token = gh.add_token(login="github-actions[bot]", permissions=JOB_PERMISSIONS)
    head = gh.branch_sha(REPO, "main")
    created = call(gh, "POST", f"/repos/{REPO}/git/refs",
                   {"ref": "refs/heads/ccs-y", "sha": head}, token=token)
    assert created == (403, {**created[1], "message": "Resource not accessible by integration"})
    moved = call(gh, "PATCH", f"/repos/{REPO}/git/refs/heads/main",
                 {"sha": head, "force": True}, token=token)
    assert moved[0] == 403
    merged = call(gh, "POST", f"/repos/{REPO}/merges", {"base": "main", "head": "main"},
                  token=token)
    assert merged[0] == 403
    reading = urllib.request.Request(f"{gh.url}/repos/{REPO}/git/ref/heads/main",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(reading, timeout=10) as answer:
        assert answer.status == 200
