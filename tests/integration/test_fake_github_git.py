"""The test GitHub serves git over HTTP and holds a job's token to its `permissions:`."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.github import FakeGitHub
from tests.integration.test_fake_github import call

REPO = "octo/shop"
JOB_PERMISSIONS = {"contents": "read", "id-token": "write"}


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[FakeGitHub]:
    """Serve a test GitHub whose clone URLs are HTTP, with one repository."""
    with FakeGitHub.start(tmp_path, job_runner=None, git_http=True) as fake:
        fake.create_repository(REPO, files={"README.md": "hi\n"})
        yield fake


def git(cwd: Path, *args: str, token: str | None = None) -> subprocess.CompletedProcess:
    """Run git with `token` sent as GitHub's basic auth header (never in argv)."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x", "PATH": "/usr/bin:/bin",
           "HOME": str(cwd)}
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraheader",
                   GIT_CONFIG_VALUE_0=f"AUTHORIZATION: basic {basic}")
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          check=False)


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
    assert created[0] == 403 and created[2]["message"] == "Resource not accessible by integration"
    moved = call(gh, "PATCH", f"/repos/{REPO}/git/refs/heads/main",
                 {"sha": head, "force": True}, token=token)
    assert moved[0] == 403
    merged = call(gh, "POST", f"/repos/{REPO}/merges", {"base": "main", "head": "main"},
                  token=token)
    assert merged[0] == 403
    assert call(gh, "GET", f"/repos/{REPO}/git/ref/heads/main", token=token)[0] == 200
