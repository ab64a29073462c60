"""`ccs status` reads the local session log with stdlib sqlite3: same answers, light start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.adapters.db import local_read
from service.adapters.db.engine import make_engine, upgrade
from service.adapters.db.store import Store
from service.domain.states import ChildMoves, SessionMoves
from service.orchestrator.ports import NewChild, NewSession

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("flask", "sqlalchemy", "alembic", "git", "github", "rich", "jwt", "huey", "werkzeug")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose local database holds two sessions, one with children."""
    path = tmp_path / "shop"
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    url = f"sqlite:///{path / '.git' / 'ccs' / 'ccs.db'}"
    engine = make_engine(url)
    upgrade(url, engine)
    store = Store(engine)
    key = f"local:{path.resolve()}"
    for session_id in ("aaaaaaaaaa", "bbbbbbbbbb"):
        store.add_session(NewSession(id=session_id, repository=key, context="catalog",
                                     branch=f"ccs/catalog-{session_id}", base_ref="main",
                                     base_sha="a" * 40, manifest_path=".github/ccs.yml",
                                     parallel=1))
    store.add_session(NewSession(id="cccccccccc", repository="acme/other", context="catalog",
                                 branch="ccs/catalog-cccccccccc", base_ref="main",
                                 base_sha="a" * 40, manifest_path=".github/ccs.yml", parallel=1))
    store.add_children([NewChild(id=f"child-{name}", session_id="aaaaaaaaaa", kind="component",
                                 component=name, position=position, spec={"name": name},
                                 round=1, branch=f"ccs-child/aaaaaaaaaa/{name}")
                        for position, name in enumerate(("search", "cart"))])
    store.apply_to_all(ChildMoves.DISPATCH, ["child-search", "child-cart"])
    store.apply(ChildMoves.SUCCEED, "child-search", commit="b" * 40, attempts=2,
                tests_passed=3, message="done", cost_usd=0.25, input_tokens=10)
    store.apply(SessionMoves.INITIALIZE, "aaaaaaaaaa")
    engine.dispose()
    return path


def database(repo: Path) -> Path:
    return repo / ".git" / "ccs" / "ccs.db"


def fields(record: object, names: list[str]) -> dict:
    return {name: getattr(record, name) for name in names}


def test_the_lean_read_answers_as_the_store_does(repo: Path) -> None:
    store = Store(make_engine(f"sqlite:///{database(repo)}"))
    key = f"local:{repo.resolve()}"
    lean = local_read.sessions(database(repo), key)
    full = store.sessions(key)
    names = ["id", "context", "status", "branch", "final_commit", "message", "created_at"]
    assert [fields(s, names) for s in lean] == [fields(s, names) for s in full]
    assert {s.id for s in lean} == {"aaaaaaaaaa", "bbbbbbbbbb"}  # another repository's: no

    session, children = local_read.session_with_children(database(repo), "aaaaaaaaaa", key)
    child_names = ["id", "component", "status", "attempts", "commit", "message", "tests_passed",
                   "tests_failed", "tests_errors", "tests_skipped", "cost_usd", "input_tokens",
                   "output_tokens"]
    assert [fields(c, child_names) for c in children] == [
        fields(c, child_names) for c in store.children("aaaaaaaaaa")]
    assert [c.component for c in children] == ["search", "cart"]
    assert session.status == store.session("aaaaaaaaaa").status == "initializing"
    with pytest.raises(local_read.Unavailable):
        local_read.session_with_children(database(repo), "cccccccccc", key)
    store.engine.dispose()


def ccs(repo: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run `ccs status … --repo repo` in a fresh interpreter; return it and what it imported."""
    code = ("import json, sys\nfrom service.cli import main\ncode = main(sys.argv[1:])\n"
            "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\nsys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code, *args, "--repo", str(repo)],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    return done, json.loads(done.stderr.splitlines()[-1])


@pytest.mark.parametrize("args", [("status",), ("status", "--json"),
                                  ("status", "aaaaaaaaaa", "--json")])
def test_status_imports_no_framework_and_prints_what_the_full_road_prints(
        repo: Path, args: tuple[str, ...]) -> None:
    done, imported = ccs(repo, *args)
    assert done.returncode == 0, done.stderr
    assert sorted({m.split(".")[0] for m in imported} & set(HEAVY)) == []
    full = subprocess.run(
        [sys.executable, "-c", "import sys\nfrom service.cli import build_parser\n"
         "from service.cli.local import status\n"
         "sys.exit(status(build_parser().parse_args(sys.argv[1:])))", *args, "--repo",
         str(repo)], capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (done.stdout, done.returncode) == (full.stdout, full.returncode)


def test_status_help_imports_no_framework(tmp_path: Path) -> None:
    code = ("import json, sys\nfrom service.cli import main\ntry:\n    main(['status', '--help'])\n"
            "except SystemExit:\n    pass\nprint(json.dumps(sorted(sys.modules)), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    imported = {m.split(".")[0] for m in json.loads(done.stderr.splitlines()[-1])}
    assert sorted(imported & set(HEAVY)) == []


def test_an_unknown_session_takes_the_full_road_and_is_rejected(repo: Path) -> None:
    done, _ = ccs(repo, "status", "nosuchid00", "--json")
    assert done.returncode == 2
    assert json.loads(done.stdout)["status"] == "rejected"
    assert "no session 'nosuchid00'" in done.stderr
