"""`ccs check` and `ccs init` as a user runs them: real processes, exit codes, JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]
BOOKSHOP = PROJECT / "examples" / "bookshop"


def ccs(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m service.cli ARGS` and return the finished process."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def test_init_then_check(tmp_path: Path) -> None:
    doc = tmp_path / "docs" / "design" / "accounts" / "user_repository.md"
    doc.parent.mkdir(parents=True)
    doc.write_text("# user repository\n")
    init = ccs("init", "--repo", str(tmp_path))
    assert init.returncode == 0, init.stderr
    assert "wrote .github/ccs.yml" in init.stdout
    assert "wrote .github/workflows/ccs.yml" in init.stdout

    check = ccs("check", "--repo", str(tmp_path), "--json")
    assert check.returncode == 0, check.stderr
    body = json.loads(check.stdout)
    assert body["manifest"].endswith(".github/ccs.yml")
    assert body["contexts"] == {"accounts": [{
        "context": "accounts", "name": "user_repository", "priority": 0,
        "design": "docs/design/accounts/user_repository.md",
        "implementation": "src/accounts/user_repository.py",
        "test": "tests/accounts/test_user_repository.py", "allow": [], "needs": [],
    }]}


def test_init_refuses_to_overwrite_then_force(tmp_path: Path) -> None:
    assert ccs("init", "--repo", str(tmp_path)).returncode == 0
    manifest = tmp_path / ".github" / "ccs.yml"
    manifest.write_text("# mine\n")
    again = ccs("init", "--repo", str(tmp_path))
    assert again.returncode == 2
    assert "already exist" in again.stderr and "--force" in again.stderr
    assert manifest.read_text() == "# mine\n"
    forced = ccs("init", "--repo", str(tmp_path), "--force")
    assert forced.returncode == 0
    # DESIGN §6a: --force upgrades the workflow and keeps the manifest as written.
    assert manifest.read_text() == "# mine\n"
    assert "kept .github/ccs.yml (" in forced.stdout and "as written" in forced.stdout
    assert "wrote .github/workflows/ccs.yml" in forced.stdout


def test_check_prints_the_components_in_spawn_order() -> None:
    check = ccs("check", "--repo", str(BOOKSHOP))
    assert check.returncode == 0, check.stderr
    rows = [line for line in check.stdout.splitlines() if "catalog" in line and "│" in line]
    assert [row.split("│")[2].strip() for row in rows] == ["isbn", "money", "inventory",
                                                            "pricing"]
    assert "src/catalog/isbn.py" in check.stdout


def test_check_rejects_an_invalid_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / ".github" / "ccs.yml"
    manifest.parent.mkdir(parents=True)
    manifest.write_text((BOOKSHOP / ".github" / "ccs.yml").read_text()
                        .replace("parallel: 4", "paralel: 4"))
    check = ccs("check", "--repo", str(tmp_path), "--json")
    assert check.returncode == 2
    body = json.loads(check.stdout)
    assert body["status"] == "rejected"
    assert "paralel: unknown key 'paralel'" in body["message"]
    assert "did you mean 'parallel'?" in check.stderr


def test_check_without_a_manifest(tmp_path: Path) -> None:
    check = ccs("check", "--repo", str(tmp_path))
    assert check.returncode == 2
    assert "run `ccs init`" in check.stderr and check.stdout == ""


def test_check_with_a_manifest_override(tmp_path: Path) -> None:
    (tmp_path / "ccs.yml").write_text((BOOKSHOP / ".github" / "ccs.yml").read_text())
    check = ccs("check", "--repo", str(tmp_path), "--manifest", "ccs.yml", "--json")
    assert check.returncode == 0, check.stderr
    assert list(json.loads(check.stdout)["contexts"]) == ["catalog", "orders"]


def test_serve_on_a_fresh_machine_refuses_to_start_half_configured(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCS_")}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(PROJECT))
    done = subprocess.run([sys.executable, "-m", "service.cli", "serve", "--port", "0"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("ccs serve: ")]
    assert any("CCS_WEBHOOK_SECRET" in line for line in lines)
    assert any("CCS_PUBLIC_URL" in line for line in lines)
    assert lines[-1] == "ccs serve: not started; see docs/configuration.md"


def test_db_upgrade_creates_the_data_folder_on_a_fresh_machine(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCS_")}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(PROJECT))
    done = subprocess.run([sys.executable, "-m", "service.cli", "db", "upgrade"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".local" / "share" / "ccs" / "ccs.db").is_file()


def test_an_uncommitted_manifest_gets_a_hint_from_check_and_from_run(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "docs" / "design" / "shop").mkdir(parents=True)
    (repo / "docs" / "design" / "shop" / "cart.md").write_text("# cart\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "design"], check=True)
    assert ccs("init", "--repo", str(repo)).returncode == 0

    checked = ccs("check", "--repo", str(repo))
    assert checked.returncode == 0
    assert "is not committed: this check read the working tree, but `ccs run` reads the " \
           "base commit" in checked.stderr
    ran = ccs("run", "shop", "--repo", str(repo), "--json")
    assert ran.returncode == 2
    message = json.loads(ran.stdout)["message"]
    assert "no manifest at .github/ccs.yml" in message
    assert "is in your working tree but not committed" in message


def test_an_unknown_context_asks_did_you_mean(tmp_path: Path) -> None:
    from service.cli.demo import prepare

    ran = ccs("run", "catalgo", "--repo", str(prepare(tmp_path)), "--json")
    assert ran.returncode == 2
    assert "did you mean 'catalog'?" in json.loads(ran.stdout)["message"]
