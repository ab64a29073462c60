"""Wire the orchestrator for service mode: GitHub API, bare mirrors, Actions jobs."""

from __future__ import annotations

import threading

from service.adapters.db.store import Store
from service.adapters.github.client import ClientOptions, GitHubGateway
from service.adapters.github.executor import GitHubExecutor
from service.adapters.github.host import GitHubHost, GitHubVerifier
from service.adapters.github.mirror import Mirror
from service.adapters.github.repo import RepoGitHub
from service.adapters.github.reporter import TrackingReporter
from service.config import Config
from service.orchestrator.core import Orchestrator


class ServiceRuntime:
    """Builds (and caches) GitHub clients and orchestrators per repository and installation.

    Each process keeps its own mirrors under CCS_WORKSPACE_DIR; a merged commit another
    worker made is fetched from its staging branch when it is published.
    """

    def __init__(self, config: Config, store: Store, gateway: GitHubGateway | None = None,
                 options: ClientOptions | None = None) -> None:
        self.config, self.store = config, store
        self.options = options or (gateway.options if gateway else _client_options(config))
        self.gateway = gateway or GitHubGateway(config, self.options)
        self.retry_command = f"{config.command_prefix} retry"
        self._repos: dict[tuple[str, str], RepoGitHub] = {}
        self._orchestrators: dict[tuple[str, str], Orchestrator] = {}
        self._lock = threading.Lock()

    def github(self, repository: str, installation_id: int | None = None) -> RepoGitHub:
        """Return the GitHub calls for `repository` through its installation's client."""
        client = self.gateway.client(repository, installation_id)
        key = (repository, client.key)
        with self._lock:
            if key not in self._repos:
                self._repos[key] = RepoGitHub(client, repository)
            return self._repos[key]

    def mirror(self, repository: str, installation_id: int | None = None) -> Mirror:
        """Return the bare mirror of `repository` (fetched with the installation's token)."""
        repo = self.github(repository, installation_id)
        return Mirror(self.config.workspace_dir, repository, repo.clone_url, repo.client.token)

    def orchestrator(self, repository: str, installation_id: int | None = None) -> Orchestrator:
        """Return the orchestrator for `repository`, wired to GitHub (cached)."""
        repo = self.github(repository, installation_id)
        key = (repository, repo.client.key)
        with self._lock:
            if key in self._orchestrators:
                return self._orchestrators[key]
        mirror = self.mirror(repository, installation_id)
        executor = GitHubExecutor(repo, self.store, self.config.workflow, self.config.public_url,
                                  self.options)
        orchestrator = Orchestrator(
            store=self.store, git=mirror.repo, host=GitHubHost(repo, mirror), executor=executor,
            verifier=GitHubVerifier(executor, mirror),
            reporter=TrackingReporter(repo, self.store, self.retry_command,
                                      self.config.bot_login),
            retry_command=self.retry_command,
        )
        with self._lock:
            return self._orchestrators.setdefault(key, orchestrator)


def _client_options(config: Config) -> ClientOptions:
    """Return the GitHub client options CCS_GITHUB_THROTTLE asks for."""
    if config.github_throttle:
        return ClientOptions()
    return ClientOptions(seconds_between_requests=None, seconds_between_writes=None)
