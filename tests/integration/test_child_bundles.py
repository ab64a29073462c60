"""The service takes in a child's bundle (DESIGN §6a): it checks it against the session head
and the result, then pushes the child branch with its own token (git over HTTP here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from service.adapters.github.host import GitHubHost
from service.adapters.github.mirror import Mirror
from service.domain.bundles import BadBundle
from tests.fakes.github import FakeGitHub
from tests.fakes.local import git

REPO = "octo/shop"
SESSION_BRANCH = "ccs/shop-s1"
CHILD_BRANCH = "ccs-child/s1/cart"


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub.start(tmp_path, job_runner=None, git_http=True) as fake:
        fake.create_repository(REPO, files={"README.md": "hi\n"})
        fake.commit_files(REPO, SESSION_BRANCH, {"docs/cart.md": "# cart\n"}, "session")
        yield fake


@pytest.fixture
def host(gh: FakeGitHub, tmp_path: Path) -> GitHubHost:
    token = gh.add_token()  # the service's own, which may write
    mirror = Mirror(tmp_path / "workspace", REPO, lambda: gh.clone_url(REPO), lambda: token)
    return GitHubHost(SimpleNamespace(repository=REPO), mirror)


def job_checkout(gh: FakeGitHub, tmp_path: Path, files: dict[str, str], *,
                 start: str = SESSION_BRANCH) -> tuple[Path, str, str]:
    """Clone like a job, commit `files` on the child branch; return (clone, start, tip)."""
    clone = tmp_path / f"job-{len(list(tmp_path.iterdir()))}"
    git(tmp_path, "clone", "-q", "-b", start, gh.repository(REPO).git.path.as_uri(),
        str(clone))
    git(clone, "checkout", "-q", "-B", CHILD_BRANCH)
    for path, text in files.items():
        (clone / path).parent.mkdir(parents=True, exist_ok=True)
        (clone / path).write_text(text)
    git(clone, "add", "-A")
    git(clone, "-c", "user.name=j", "-c", "user.email=j@x", "commit", "-qm", "work")
    return clone, gh.branch_sha(REPO, SESSION_BRANCH), git(clone, "rev-parse", "HEAD")


def bundle(clone: Path, *revs: str) -> bytes:
    path = clone.parent / f"{clone.name}.bundle"
    git(clone, "bundle", "create", "-q", str(path), *revs)
    return path.read_bytes()


def records(start: str, commit: str) -> tuple[SimpleNamespace, SimpleNamespace]:
    session = SimpleNamespace(id="s1", branch=SESSION_BRANCH, base_sha=start)
    child = SimpleNamespace(id="c1", branch=CHILD_BRANCH, start_sha=start, commit=commit)
    return session, child


def test_a_bundle_on_the_session_head_becomes_the_child_branch(gh, host, tmp_path):
    clone, start, tip = job_checkout(gh, tmp_path, {"src/cart.py": "X = 1\n"})
    host.receive_bundle(*records(start, tip), bundle(clone, f"refs/heads/{CHILD_BRANCH}",
                                                     f"^{start}"))
    assert gh.branch_sha(REPO, CHILD_BRANCH) == tip
    assert gh.read_file(REPO, CHILD_BRANCH, "src/cart.py") == "X = 1\n"
    # Taking it in again (a worker that crashed after the push) changes nothing.
    host.receive_bundle(*records(start, tip), bundle(clone, f"refs/heads/{CHILD_BRANCH}",
                                                     f"^{start}"))
    assert gh.branch_sha(REPO, CHILD_BRANCH) == tip


def test_a_bundle_whose_tip_is_not_the_results_commit_is_refused(gh, host, tmp_path):
    clone, start, _tip = job_checkout(gh, tmp_path, {"src/cart.py": "X = 1\n"})
    with pytest.raises(BadBundle, match="not at the result's commit"):
        host.receive_bundle(*records(start, start),
                            bundle(clone, f"refs/heads/{CHILD_BRANCH}", f"^{start}"))
    assert gh.branch_sha(REPO, CHILD_BRANCH) is None


def test_a_bundle_built_on_another_commit_is_refused(gh, host, tmp_path):
    gh.commit_files(REPO, "elsewhere", {"other.txt": "x\n"}, "another base")
    clone, start, tip = job_checkout(gh, tmp_path, {"src/cart.py": "X = 1\n"},
                                     start="elsewhere")
    elsewhere = gh.branch_sha(REPO, "elsewhere")
    with pytest.raises(BadBundle, match="not on the session head"):
        host.receive_bundle(*records(start, tip),
                            bundle(clone, f"refs/heads/{CHILD_BRANCH}", f"^{elsewhere}"))
    # A whole-history bundle that never passes the session head is refused too.
    with pytest.raises(BadBundle, match="does not start at the session head"):
        host.receive_bundle(*records(start, tip), bundle(clone, f"refs/heads/{CHILD_BRANCH}"))
    assert gh.branch_sha(REPO, CHILD_BRANCH) is None


def test_a_corrupt_bundle_is_refused_by_git(gh, host, tmp_path):
    clone, start, tip = job_checkout(gh, tmp_path, {"src/cart.py": "X = 1\n"})
    data = bundle(clone, f"refs/heads/{CHILD_BRANCH}", f"^{start}")
    with pytest.raises(BadBundle, match="git could not read it"):
        host.receive_bundle(*records(start, tip), data[: len(data) - 30])
    assert gh.branch_sha(REPO, CHILD_BRANCH) is None
