"""The git adapter against real temporary repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.adapters.db.models import ChildRow
from service.adapters.git_repo import GitError, GitRepository, NotARepository
from service.orchestrator.merge import MergeConflict, Merged, merge_children
from tests.fakes.local import commit_files, git


@pytest.fixture
def repo(tmp_path: Path) -> GitRepository:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "--quiet", "--initial-branch=main")
    (path / "README.md").write_text("hello\n")
    (path / "src").mkdir()
    (path / "src" / "shared.py").write_text("A = 1\n")
    git(path, "add", "-A")
    git(path, "commit", "--quiet", "-m", "initial")
    return GitRepository(path)


def head(repo: GitRepository) -> str:
    return git(repo.path, "rev-parse", "HEAD")


def child(component: str, commit: str, changed: list[str], position: int) -> ChildRow:
    return ChildRow(id=component, session_id="s", kind="component", component=component,
                    position=position, spec={}, status="succeeded", round=1,
                    branch=f"ccs-child/s/{component}", commit=commit, changed_files=changed,
                    attempts=1, message="")


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(NotARepository, match="is not a git repository"):
        GitRepository(tmp_path)


def test_reads(repo: GitRepository) -> None:
    base = head(repo)
    assert repo.resolve("main") == base == repo.resolve("HEAD")
    assert repo.current_branch() == "main"
    with pytest.raises(GitError, match="no commit named"):
        repo.resolve("nope")
    with pytest.raises(GitError, match="not a valid ref"):
        repo.resolve("--output=/tmp/x")
    assert repo.read_file(base, "README.md") == "hello\n"
    assert repo.read_file(base, "missing.md") is None
    assert repo.blob_sizes(base, ["README.md", "missing.md", "src"]) == {
        "README.md": 6, "missing.md": None, "src": None}
    assert repo.branch_sha("main") == base and repo.branch_sha("ccs/none") is None
    assert not repo.has_uncommitted_changes()
    (repo.path / "README.md").write_text("changed\n")
    assert repo.has_uncommitted_changes()
    (repo.path / "README.md").write_text("hello\n")
    (repo.path / "untracked.txt").write_text("x")
    assert not repo.has_uncommitted_changes()


def test_changed_files_count_deletions_and_renames_as_both_paths(repo: GitRepository) -> None:
    base = head(repo)
    moved = commit_files(repo.path, base, {"README.md": None, "docs/README.md": "hello\n"}, "mv")
    assert sorted(repo.changed_files(base, moved)) == ["README.md", "docs/README.md"]
    assert repo.is_ancestor(base, moved) and not repo.is_ancestor(moved, base)


def test_set_branch_writes_only_ccs_branches_and_compares_and_sets(repo: GitRepository) -> None:
    base = head(repo)
    later = commit_files(repo.path, base, {"x.txt": "x\n"}, "x")
    for other in ("main", "feature/x", "ccsx"):
        with pytest.raises(GitError, match="refusing to write"):
            repo.set_branch(other, later, expected_old=None)
    assert repo.resolve("main") == base
    repo.set_branch("ccs/catalog-0123abcdef", base, expected_old=None)
    with pytest.raises(GitError):  # it exists now, so "must not exist" fails
        repo.set_branch("ccs/catalog-0123abcdef", later, expected_old=None)
    with pytest.raises(GitError):  # wrong expected old value
        repo.set_branch("ccs/catalog-0123abcdef", later, expected_old=later)
    repo.set_branch("ccs/catalog-0123abcdef", later, expected_old=base)
    assert repo.branch_sha("ccs/catalog-0123abcdef") == later
    with pytest.raises(GitError, match="refusing to delete"):
        repo.delete_branch("main")
    repo.delete_branch("ccs/catalog-0123abcdef")
    repo.delete_branch("ccs/catalog-0123abcdef")  # already gone: fine
    assert repo.branch_sha("ccs/catalog-0123abcdef") is None
    assert repo.current_branch() == "main" and repo.resolve("main") == base


def test_merge_children_in_spawn_order(repo: GitRepository) -> None:
    base = head(repo)
    first = commit_files(repo.path, base, {"src/isbn.py": "I = 1\n"}, "isbn")
    second = commit_files(repo.path, base, {"src/money.py": "M = 1\n",
                                            "src/shared.py": "A = 2\n"}, "money")
    merged = merge_children(repo, base, [child("isbn", first, ["src/isbn.py"], 0),
                                         child("money", second, ["src/money.py"], 1)], "Impl\n")
    assert isinstance(merged, Merged)
    # One commit on the base (the child commits are not its parents), holding both trees.
    assert git(repo.path, "rev-list", "--parents", "-n1", merged.commit).split()[1:] == [base]
    assert repo.read_file(merged.commit, "src/isbn.py") == "I = 1\n"
    assert repo.read_file(merged.commit, "src/shared.py") == "A = 2\n"
    assert git(repo.path, "log", "-1", "--format=%s", merged.commit) == "Impl"
    assert git(repo.path, "status", "--porcelain") == ""


def test_merge_conflict_names_the_files_and_the_earlier_component(repo: GitRepository) -> None:
    base = head(repo)
    isbn = commit_files(repo.path, base, {"src/isbn.py": "I\n", "src/shared.py": "A = 'i'\n"},
                        "isbn")
    money = commit_files(repo.path, base, {"src/money.py": "M\n"}, "money")
    pricing = commit_files(repo.path, base, {"src/shared.py": "A = 'p'\n",
                                             "src/pricing.py": "P\n"}, "pricing")
    outcome = merge_children(repo, base, [
        child("isbn", isbn, ["src/isbn.py", "src/shared.py"], 0),
        child("money", money, ["src/money.py"], 1),
        child("pricing", pricing, ["src/shared.py", "src/pricing.py"], 2)], "Impl\n")
    assert isinstance(outcome, MergeConflict)
    assert outcome.child.component == "pricing"
    assert outcome.files == ("src/shared.py",)
    assert outcome.earlier == ("isbn",)
    assert outcome.message() == ("pricing: merge conflict in src/shared.py with isbn. Give the "
                                 "components separate files (or fix the base), then retry.")
    assert git(repo.path, "status", "--porcelain") == ""


def test_push_to_a_bare_remote_and_only_ccs_branches(repo: GitRepository,
                                                     tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", str(origin))
    git(repo.path, "remote", "add", "origin", str(origin))
    base = head(repo)
    later = commit_files(repo.path, base, {"x.txt": "x\n"}, "x")
    repo.set_branch("ccs/catalog-0123abcdef", later, expected_old=None)
    ref = "refs/heads/ccs/catalog-0123abcdef"
    repo.push("origin", [f"{ref}:{ref}"])
    assert git(origin, "rev-parse", ref) == later
    for refspec in ("refs/heads/main:refs/heads/main", f"+{ref}:refs/heads/main", "main"):
        with pytest.raises(GitError, match="refusing to push"):
            repo.push("origin", [refspec])
    # No force: a non-fast-forward push of our own branch fails too.
    other = commit_files(repo.path, base, {"y.txt": "y\n"}, "y")
    repo.set_branch("ccs/catalog-0123abcdef", other, expected_old=later)
    with pytest.raises(GitError, match="push"):
        repo.push("origin", [f"{ref}:{ref}"])
    assert git(origin, "rev-parse", ref) == later
    repo.fetch("origin", [f"{ref}:refs/remotes/origin/x"])


def test_a_checkout_has_its_own_git_and_only_the_child_commit_comes_back(
        repo: GitRepository, tmp_path: Path) -> None:
    base = head(repo)
    checkout = tmp_path / "scratch" / "checkout"
    repo.add_checkout(checkout, base)
    assert (checkout / "README.md").read_text() == "hello\n"
    assert (checkout / ".git").is_dir()
    assert git(checkout, "rev-parse", "--git-common-dir") == ".git"
    # What a coder plants in its checkout's .git: a hook, config, a branch of its own.
    (checkout / ".git" / "hooks").mkdir(exist_ok=True)
    (checkout / ".git" / "hooks" / "post-commit").write_text("#!/bin/sh\necho hi\n")
    git(checkout, "config", "core.fsmonitor", "touch fsmonitor-ran")
    git(checkout, "checkout", "--quiet", "-b", "feature")
    (checkout / "src" / "shared.py").write_text("A = 2\n")
    git(checkout, "-c", "user.name=c", "-c", "user.email=c@x", "-c", "core.hooksPath=/dev/null",
        "-c", "core.fsmonitor=false", "commit", "--quiet", "-am", "child")
    sha = git(checkout, "rev-parse", "HEAD")
    repo.fetch_child(checkout, sha, "ccs-child/s/x")
    assert repo.branch_sha("ccs-child/s/x") == sha
    assert repo.branch_sha("feature") is None
    assert not (repo.git_dir / "hooks" / "post-commit").exists()
    assert "fsmonitor" not in (repo.git_dir / "config").read_text()
    assert not (repo.git_dir / "FETCH_HEAD").exists()
    with pytest.raises(GitError, match="ccs writes only"):
        repo.fetch_child(checkout, sha, "main")
    repo.remove_checkout(checkout)
    assert not checkout.exists()
    assert len(git(repo.path, "worktree", "list").splitlines()) == 1
    assert repo.current_branch() == "main" and head(repo) == base


def test_planted_hooks_and_fsmonitor_never_run_as_ccs(repo: GitRepository,
                                                       tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    hook = f"#!/bin/sh\necho $0 >> {marker}\n"
    hooks = repo.git_dir / "hooks"
    hooks.mkdir(exist_ok=True)
    for name in ("reference-transaction", "post-checkout", "post-commit"):
        (hooks / name).write_text(hook)
        (hooks / name).chmod(0o755)
    git(repo.path, "config", "core.fsmonitor", str(hooks / "post-commit"))
    base = head(repo)
    repo.set_branch("ccs/x-1", base, expected_old=None)
    repo.commit_tree(git(repo.path, "rev-parse", "HEAD^{tree}"), [base], "by ccs")
    repo.has_uncommitted_changes()
    repo.add_checkout(tmp_path / "checkout", base)
    assert not marker.exists()


def test_symlinks_names_linked_paths_and_linked_folders(repo: GitRepository) -> None:
    (repo.path / "src" / "link.py").symlink_to("/etc/passwd")
    (repo.path / "lib").symlink_to("/etc")
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "--quiet", "-m", "links")
    sha = head(repo)
    assert repo.symlinks(sha, ["src/link.py", "src/shared.py", "lib/passwd", "missing/x.py",
                               "README.md"]) == ["lib", "src/link.py"]
    assert repo.symlinks(sha, []) == []
    assert repo.symlinks(sha, ["src/*"]) == []  # pathspecs are literal


def test_commit_tree_gives_ccs_an_identity_when_there_is_none(repo: GitRepository,
                                                              monkeypatch) -> None:
    for var in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL", "GIT_AUTHOR_NAME",
                "GIT_COMMITTER_NAME"):
        monkeypatch.delenv(var, raising=False)
    fresh = GitRepository(repo.path)
    tree = git(repo.path, "rev-parse", "HEAD^{tree}")
    sha = fresh.commit_tree(tree, [head(repo)], "by ccs")
    assert git(repo.path, "log", "-1", "--format=%ae", sha) == "ccs@localhost"
