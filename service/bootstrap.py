"""Wire the orchestrator for local mode: the user's repository, SQLite, worktree children."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from service.adapters.db.engine import make_engine, upgrade
from service.adapters.db.store import Store
from service.adapters.git_repo import GitRepository
from service.adapters.local.executor import LocalExecutor
from service.adapters.local.host import LocalHost
from service.adapters.local.verifier import LocalVerifier
from service.orchestrator.core import Orchestrator


@dataclass
class LocalRuntime:
    """Everything a local command needs, built once."""

    repo: GitRepository
    store: Store
    orchestrator: Orchestrator
    executor: LocalExecutor
    repository_key: str

    def close(self) -> None:
        """Stop worker threads and close database connections."""
        self.executor.shutdown()
        self.store.engine.dispose()


def ccs_dir(repo: GitRepository) -> Path:
    """Return <repo>/.git/ccs (the common git dir, so worktrees share it)."""
    common = Path(repo.run("rev-parse", "--git-common-dir")[1].strip())
    if not common.is_absolute():
        common = repo.path / common
    return (common / "ccs").resolve()


def database_url(repo: GitRepository) -> str:
    """Return CCS_DATABASE_URL, or the SQLite file inside the repository's .git/ccs/."""
    return os.environ.get("CCS_DATABASE_URL") or f"sqlite:///{ccs_dir(repo) / 'ccs.db'}"


def repository_key(repo: GitRepository) -> str:
    """Return the key that scopes this repository's sessions in a shared database."""
    return f"local:{repo.path.resolve()}"


def open_runtime(repo_path: Path, parallel: int | None = None) -> LocalRuntime:
    """Open the repository and database (migrating it) and wire the orchestrator."""
    repo = GitRepository(repo_path)
    url = database_url(repo)
    engine = make_engine(url)
    upgrade(url, engine)
    store = Store(engine)
    log_dir = ccs_dir(repo) / "logs"
    executor = LocalExecutor(repo, store, parallel, log_dir)
    orchestrator = Orchestrator(
        store=store, git=repo, host=LocalHost(repo), executor=executor,
        verifier=LocalVerifier(repo, log_dir),
    )
    executor.bind(orchestrator.record_result)
    return LocalRuntime(repo, store, orchestrator, executor, repository_key(repo))
