"""The one wiring room: adapters bound to the orchestrator's ports, for each run mode.

`local(repo)` wires the user's repository, SQLite and worktree children (`ccs run`);
`service(config)` wires the database, the queue and, per repository, GitHub (`ccs serve`,
`ccs worker`). Tests pass their own pieces to replace the defaults.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.adapters.db.engine import make_engine, upgrade
from service.adapters.db.store import Store
from service.adapters.file_lock import file_lock
from service.adapters.git_repo import GitRepository
from service.adapters.manifest.parse import parse_manifest
from service.config import Config
from service.domain.commands import RecordChildResult
from service.orchestrator.bus import MessageBus
from service.orchestrator.context import Ports

if TYPE_CHECKING:
    from service.adapters.github.client import ClientOptions, GitHubGateway
    from service.adapters.github.mirror import Mirror
    from service.adapters.github.repo import RepoGitHub
    from service.adapters.local.executor import LocalExecutor
    from service.adapters.queue import HueyQueue, TaskQueue
    from service.auth.oidc import OidcVerifier

# Local mode ------------------------------------------------------------------------


@dataclass
class LocalRuntime:
    """Everything a local command needs, built once."""

    repo: GitRepository
    store: Store
    bus: MessageBus
    executor: LocalExecutor
    repository_key: str
    log_dir: Path

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


def database_url(repo: GitRepository, home: Path | None = None) -> str:
    """Return CCS_DATABASE_URL, or the SQLite file inside the repository's .git/ccs/."""
    return (os.environ.get("CCS_DATABASE_URL")
            or f"sqlite:///{(home or ccs_dir(repo)) / 'ccs.db'}")


def repository_key(repo: GitRepository) -> str:
    """Return the key that scopes this repository's sessions in a shared database."""
    return f"local:{repo.path.resolve()}"


def local(repo_path: Path, parallel: int | None = None) -> LocalRuntime:
    """Open the repository and its database (migrating it) and wire the orchestrator."""
    from service.adapters.local.executor import LocalExecutor
    from service.adapters.local.host import LocalHost
    from service.adapters.local.verifier import LocalVerifier

    repo = GitRepository(repo_path)
    home = ccs_dir(repo)  # a git process: asked once
    url = database_url(repo, home)
    engine = make_engine(url)
    # Two commands started at once on a fresh repository would both create the tables.
    with file_lock(home / "migrate.lock"):
        upgrade(url, engine)
    store = Store(engine)
    log_dir = home / "logs"
    executor = LocalExecutor(repo, store, parallel, log_dir)
    bus = MessageBus(Ports(store=store, git=repo, host=LocalHost(repo), executor=executor,
                           parse_manifest=parse_manifest,
                           verifier=LocalVerifier(repo, log_dir)))
    executor.bind(lambda child_id, result: bus.handle(RecordChildResult(child_id, result)))
    return LocalRuntime(repo, store, bus, executor, repository_key(repo), log_dir)


# Service mode ----------------------------------------------------------------------


class GitHubRuntime:
    """Builds (and caches) GitHub clients and buses per repository and installation.

    Each process keeps its own mirrors under CCS_WORKSPACE_DIR; a merged commit another
    worker made is fetched from its staging branch when it is published.
    """

    def __init__(self, config: Config, store: Store, gateway: GitHubGateway | None = None,
                 options: ClientOptions | None = None) -> None:
        from service.adapters.github.client import GitHubGateway

        self.config, self.store = config, store
        self.options = options or (gateway.options if gateway else _client_options(config))
        self.gateway = gateway or GitHubGateway(config, self.options)
        self.retry_command = f"{config.command_prefix} retry"
        self._repos: dict[tuple[str, str], RepoGitHub] = {}
        self._buses: dict[tuple[str, str], MessageBus] = {}
        self._lock = threading.Lock()

    def github(self, repository: str, installation_id: int | None = None) -> RepoGitHub:
        """Return the GitHub calls for `repository` through its installation's client."""
        from service.adapters.github.repo import RepoGitHub

        client = self.gateway.client(repository, installation_id)
        key = (repository, client.key)
        with self._lock:
            if key not in self._repos:
                self._repos[key] = RepoGitHub(client, repository)
            return self._repos[key]

    def mirror(self, repository: str, installation_id: int | None = None) -> Mirror:
        """Return the bare mirror of `repository` (fetched with the installation's token)."""
        from service.adapters.github.mirror import Mirror

        repo = self.github(repository, installation_id)
        return Mirror(self.config.workspace_dir, repository, repo.clone_url, repo.client.token)

    def bus(self, repository: str, installation_id: int | None = None) -> MessageBus:
        """Return the message bus for `repository`, wired to GitHub (cached)."""
        from service.adapters.github.executor import GitHubExecutor
        from service.adapters.github.host import GitHubHost, GitHubVerifier
        from service.adapters.github.reporter import TrackingReporter

        repo = self.github(repository, installation_id)
        key = (repository, repo.client.key)
        with self._lock:
            if key in self._buses:
                return self._buses[key]
        mirror = self.mirror(repository, installation_id)
        executor = GitHubExecutor(repo, self.store, self.config.workflow, self.config.public_url,
                                  self.options)
        bus = MessageBus(Ports(
            store=self.store, git=mirror.repo, host=GitHubHost(repo, mirror), executor=executor,
            parse_manifest=parse_manifest, verifier=GitHubVerifier(executor, mirror),
            reporter=TrackingReporter(repo, self.store, self.retry_command,
                                      self.config.bot_login, clean=self.config.redact),
            retry_command=self.retry_command, redact=self.config.redact))
        with self._lock:
            return self._buses.setdefault(key, bus)


def _client_options(config: Config) -> ClientOptions:
    """Return the GitHub client options CCS_GITHUB_THROTTLE asks for."""
    from service.adapters.github.client import ClientOptions

    if config.github_throttle:
        return ClientOptions()
    return ClientOptions(seconds_between_requests=None, seconds_between_writes=None)


@dataclass
class Services:
    """What the web app and the queue tasks share: settings, store, GitHub and the queue."""

    config: Config
    store: Store
    runtime: Any  # GitHubRuntime, or a test's stand-in with the same `bus` and `github`
    queue: TaskQueue | None = None
    oidc: OidcVerifier | None = None  # built on first use (it caches the issuer's keys)

    def bus(self, repository: str, installation_id: int | None = None, *,
            deferred: bool = False) -> MessageBus:
        """Return `repository`'s bus; `deferred` hands follow-up steps to the queue."""
        bus = self.runtime.bus(repository, installation_id)
        return MessageBus(bus.ports, self.defer) if deferred else bus

    def defer(self, task: str, session_id: str) -> None:
        """Put a follow-up step on the queue."""
        assert self.queue is not None, "services are built with a queue"
        self.queue.enqueue(task, session_id)


def service(config: Config, *, store: Store | None = None, runtime: Any = None,
            queue: TaskQueue | str | None = None,
            oidc: OidcVerifier | None = None) -> Services:
    """Wire the store, GitHub and the queue (`queue="inline"` runs tasks at once: tests)."""
    from service.adapters.queue import InlineQueue
    from service.worker.tasks import TASKS

    if store is None:
        store = Store(make_engine(config.service_database_url()))
    if runtime is None:
        runtime = GitHubRuntime(config, store)
    built = Services(config, store, runtime, None, oidc)
    if queue == "inline":
        built.queue = InlineQueue(TASKS, lambda: built)
    elif queue is None:
        built.queue = huey_queue(config, lambda: built)
    else:
        built.queue = queue  # type: ignore[assignment]
    return built


def huey_queue(config: Config, context: Any) -> HueyQueue:
    """Return a HueyQueue with every task registered (also what `ccs worker` consumes)."""
    from service.adapters.queue import HueyQueue, make_huey
    from service.worker.tasks import TASKS

    return HueyQueue(make_huey(config), TASKS, context,
                     periodic={"reconcile": config.reconcile_interval})


def worker_queue(config: Config) -> HueyQueue:
    """Return the queue a `ccs worker` consumes; its tasks wire the services on first use."""
    built: list[Services] = []
    lock = threading.Lock()

    def context() -> Services:
        with lock:
            if not built:
                built.append(service(config, queue=queue))
        return built[0]

    queue = huey_queue(config, context)
    return queue
