"""GitHub API clients: token or App auth, retries that honour rate limits, one per installation."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import github
from github import GithubException, GithubRetry

from service.adapters.git_repo import GitError
from service.config import Config, ConfigError

RATE_LIMIT_STATUSES = (403, 429)


class GitHubError(GitError):
    """A GitHub request failed for good; the message says which and why (never a token)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def describe(error: GithubException) -> str:
    """Return GitHub's message (and validation errors) from an exception, without headers."""
    data = error.data if isinstance(error.data, dict) else {}
    message = str(data.get("message") or error.data or "").strip()
    details = [e.get("message") or e.get("code") for e in data.get("errors") or []
               if isinstance(e, dict)]
    return "; ".join(filter(None, [message, *details])) or f"HTTP {error.status}"


class CcsRetry(GithubRetry):
    """GithubRetry that never resends a POST after a 5xx: GitHub may have done it already."""

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        """Retry rate limits for every method, server errors only for idempotent ones."""
        if method == "POST" and status_code >= 500:
            return False
        return super().is_retry(method, status_code, has_retry_after)


@dataclass(frozen=True)
class ClientOptions:
    """How hard and how politely to talk to GitHub (tests turn the waits down)."""

    retries: int = 4
    backoff: float = 1.0
    secondary_rate_wait: float = 60.0
    max_rate_limit_wait: float = 900.0
    seconds_between_requests: float | None = 0.25
    seconds_between_writes: float | None = 1.0
    timeout: int = 30
    run_lookup_tries: int = 5
    run_lookup_delay: float = 2.0

    def retry(self) -> CcsRetry:
        """Return the urllib3 retry policy (5xx with backoff; 403/429 per Retry-After/reset)."""
        return CcsRetry(
            total=self.retries, backoff_factor=self.backoff,
            status_forcelist=[429, 500, 502, 503, 504],
            allowed_methods=frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "POST"}),
            secondary_rate_wait=self.secondary_rate_wait,
            max_rate_limit_wait=self.max_rate_limit_wait,
            # Hand the last answer to PyGithub so it raises a GithubException with the status.
            raise_on_status=False,
        )


class ApiClient:
    """One authenticated PyGithub client and the write lock of its installation."""

    def __init__(self, api: github.Github, token: Callable[[], str], key: str) -> None:
        self.api = api
        self._token = token
        self.key = key
        # GitHub etiquette: writes of one installation go one at a time.
        self.write_lock = threading.RLock()

    @property
    def requester(self) -> Any:
        """Return PyGithub's requester, for endpoints PyGithub lacks."""
        return self.api.requester

    def token(self) -> str:
        """Return a current token for git over HTTPS (installation tokens are refreshed)."""
        return self._token()

    def get(self, path: str, **parameters: Any) -> Any:
        """GET an API path and return the parsed JSON body."""
        try:
            return self.requester.requestJsonAndCheck("GET", path, parameters=parameters or None)[1]
        except GithubException as error:
            raise translate(error, f"GET {path.split('?')[0]}") from None

    def write(self, verb: str, path: str, body: Any = None) -> Any:
        """Send a write under the installation's lock and return the parsed JSON body."""
        with self.write_lock:
            try:
                return self.requester.requestJsonAndCheck(verb, path, input=body)[1]
            except GithubException as error:
                raise translate(error, f"{verb} {path}") from None


def translate(error: GithubException, what: str) -> GitHubError:
    """Turn a PyGithub exception into a GitHubError that names the request."""
    return GitHubError(f"GitHub {what} failed ({error.status}): {describe(error)}",
                       status=error.status)


def repo_path(repository: str, *parts: str) -> str:
    """Return /repos/<owner>/<name>/<parts…> with each part quoted."""
    owner, name = repository.split("/", 1)
    tail = "/".join(quote(str(p), safe="/") for p in parts)
    return f"/repos/{quote(owner)}/{quote(name)}" + (f"/{tail}" if tail else "")


def basic_auth_header(token: str) -> str:
    """Return the http.extraheader value git uses to authenticate with a token."""
    pair = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return f"AUTHORIZATION: basic {pair}"


class GitHubGateway:
    """Builds and caches API clients: one per installation, or one for the plain token."""

    def __init__(self, config: Config, options: ClientOptions | None = None) -> None:
        if config.github_token is None and config.github_app_id is None:
            raise ConfigError("set CCS_GITHUB_TOKEN, or CCS_GITHUB_APP_ID + CCS_GITHUB_PRIVATE_KEY")
        self.config = config
        self.options = options or ClientOptions()
        self._clients: dict[str, ApiClient] = {}
        self._installations: dict[str, int] = {}
        self._lock = threading.Lock()

    def _github(self, auth: github.Auth.Auth) -> github.Github:
        o = self.options
        return github.Github(base_url=self.config.github_api_url, auth=auth, retry=o.retry(),
                             timeout=o.timeout, seconds_between_requests=o.seconds_between_requests,
                             seconds_between_writes=o.seconds_between_writes)

    def _app_auth(self) -> github.Auth.AppAuth:
        assert self.config.github_app_id is not None and self.config.github_private_key
        return github.Auth.AppAuth(self.config.github_app_id,
                                   self.config.github_private_key.reveal())

    def installation_id(self, repository: str) -> int:
        """Return the App's installation for `repository` (asked once, then cached)."""
        with self._lock:
            if repository in self._installations:
                return self._installations[repository]
        integration = github.GithubIntegration(
            auth=self._app_auth(), base_url=self.config.github_api_url,
            retry=self.options.retry())
        owner, name = repository.split("/", 1)
        try:
            found = integration.get_repo_installation(owner, name).id
        except GithubException as error:
            raise translate(error, f"GET /repos/{repository}/installation") from None
        with self._lock:
            self._installations[repository] = found
        return found

    def client(self, repository: str, installation_id: int | None = None) -> ApiClient:
        """Return the client that may act on `repository`."""
        if self.config.github_app_id is None:
            return self._cached("token", self._token_client)
        installation = installation_id or self.installation_id(repository)
        return self._cached(f"installation:{installation}",
                            lambda key: self._installation_client(key, installation))

    def _cached(self, key: str, build: Callable[[str], ApiClient]) -> ApiClient:
        with self._lock:
            if key not in self._clients:
                self._clients[key] = build(key)
            return self._clients[key]

    def _token_client(self, key: str) -> ApiClient:
        assert self.config.github_token is not None
        secret = self.config.github_token
        return ApiClient(self._github(github.Auth.Token(secret.reveal())), secret.reveal, key)

    def _installation_client(self, key: str, installation: int) -> ApiClient:
        # PyGithub refreshes the installation token shortly before it expires.
        auth = self._app_auth().get_installation_auth(installation)
        api = self._github(auth)
        return ApiClient(api, lambda: auth.token, key)
