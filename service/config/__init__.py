"""Configuration (DESIGN §7): read once from the environment into one typed, frozen object."""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.config.values import (
    LOG_LEVELS,
    MASK,
    ConfigError,
    Secret,
    mask_url_password,
    parse_app_id,
    parse_bool,
    parse_choice,
    parse_http_url,
    parse_positive_int,
    parse_positive_number,
    parse_prefix,
    parse_private_key,
    parse_url_like,
    parse_workflow,
    parse_workspace,
)
from service.domain.redaction import redact

__all__ = ["MASK", "Config", "ConfigError", "Secret", "mask_url_password"]

DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_OIDC_ISSUER = "https://token.actions.githubusercontent.com"
DEFAULT_WORKFLOW = "ccs.yml"
DEFAULT_COMMAND_PREFIX = "/ccs"
DEFAULT_CHILD_TIMEOUT = 3600
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
DEFAULT_RECONCILE_INTERVAL = 60
DEFAULT_STREAM_HEARTBEAT = 15.0
DEFAULT_STREAM_POLL = 0.5
DEFAULT_MAX_STREAMS = 100
CALLBACK_AUTH_MODES = ("oidc", "token")



@dataclass(frozen=True)
class Config:
    """Every setting of the service and the local runner (see docs/configuration.md)."""

    database_url: str | None = None
    queue_url: str | None = None
    webhook_secret: Secret | None = None
    github_api_url: str = DEFAULT_GITHUB_API_URL
    github_token: Secret | None = None
    github_app_id: int | None = None
    github_private_key: Secret | None = None
    public_url: str | None = None
    api_token: Secret | None = None
    callback_auth: str = "oidc"
    callback_secret: Secret | None = None
    oidc_issuer: str = DEFAULT_OIDC_ISSUER
    oidc_jwks_url: str | None = None
    workflow: str = DEFAULT_WORKFLOW
    workspace_dir: Path = field(default_factory=lambda: Path.home() / ".local/share/ccs")
    child_timeout: int = DEFAULT_CHILD_TIMEOUT
    command_prefix: str = DEFAULT_COMMAND_PREFIX
    auto_migrate: bool = True
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    bot_login: str | None = None
    reconcile_interval: int = DEFAULT_RECONCILE_INTERVAL
    log_level: str = "INFO"
    # json or plain; None: plain on a terminal, JSON lines otherwise (service/config/log_format.py)
    log_format: str | None = None
    # PyGithub's spacing between requests (0.25 s) and writes (1 s); off for test GitHubs.
    github_throttle: bool = True
    # The event stream (GET …/events): a comment this often keeps proxies from closing it;
    # new events are looked for this often; past max_streams per process a watcher gets 503.
    stream_heartbeat: float = DEFAULT_STREAM_HEARTBEAT
    stream_poll: float = DEFAULT_STREAM_POLL
    max_streams: int = DEFAULT_MAX_STREAMS

    def __post_init__(self) -> None:
        if self.callback_auth not in CALLBACK_AUTH_MODES:
            raise ConfigError(
                f"CCS_CALLBACK_AUTH={self.callback_auth!r} is not allowed: use 'oidc' or 'token'"
            )
        if self.oidc_jwks_url is None:
            # Derived here so that overriding the issuer also moves the default JWKS URL.
            jwks = self.oidc_issuer.rstrip("/") + "/.well-known/jwks"
            object.__setattr__(self, "oidc_jwks_url", jwks)
        if (self.github_app_id is None) != (self.github_private_key is None):
            raise ConfigError(
                "CCS_GITHUB_APP_ID and CCS_GITHUB_PRIVATE_KEY (or CCS_GITHUB_PRIVATE_KEY_PATH) "
                "must be set together"
            )
        for name, value in (("CCS_CHILD_TIMEOUT", self.child_timeout),
                            ("CCS_MAX_BODY_BYTES", self.max_body_bytes),
                            ("CCS_RECONCILE_INTERVAL", self.reconcile_interval)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name}={value!r} is not allowed: use a positive integer")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Read every CCS_* variable once (default: os.environ); `overrides` win (CLI flags)."""
        if environ is None:
            import os

            environ = os.environ
        values = _read(environ)
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown configuration field(s): {', '.join(sorted(unknown))}")
        for name, value in overrides.items():
            if name in _SECRET_FIELDS and isinstance(value, str):
                value = Secret(value)
            values[name] = value
        return cls(**values)

    @property
    def oidc_audience(self) -> str | None:
        """Return the audience child jobs request: the service's public URL."""
        return self.public_url

    def service_database_url(self) -> str:
        """Return the database URL for `ccs serve`: CCS_DATABASE_URL or a SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.workspace_dir / 'ccs.db'}"

    def local_database_url(self, repo: Path) -> str:
        """Return the database URL for `ccs run` in `repo`: CCS_DATABASE_URL or .git/ccs/ccs.db."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(repo) / '.git' / 'ccs' / 'ccs.db'}"

    def callback_token_key(self) -> bytes:
        """Return the key for per-child callback tokens (CCS_CALLBACK_SECRET, else derived)."""
        if self.callback_secret is not None:
            return self.callback_secret.reveal().encode()
        base = self.webhook_secret or self.api_token
        if base is None:
            raise ConfigError(
                "CCS_CALLBACK_AUTH=token needs CCS_CALLBACK_SECRET "
                "(or CCS_WEBHOOK_SECRET / CCS_API_TOKEN to derive it from)"
            )
        # Derive a separate key so a leaked child token says nothing about the webhook secret.
        return hmac.new(base.reveal().encode(), b"ccs-callback-token-key", "sha256").digest()

    def service_problems(self) -> list[str]:
        """Return what `ccs serve` is missing (empty when the service can start)."""
        problems = []
        if self.webhook_secret is None:
            problems.append("CCS_WEBHOOK_SECRET is not set: webhooks cannot be verified")
        if self.github_token is None and self.github_app_id is None:
            problems.append("set CCS_GITHUB_TOKEN, or CCS_GITHUB_APP_ID + CCS_GITHUB_PRIVATE_KEY")
        if self.public_url is None:
            problems.append("CCS_PUBLIC_URL is not set: child jobs cannot call back")
        if self.callback_auth == "token" and self.callback_secret is None and (
                self.webhook_secret is None and self.api_token is None):
            problems.append("CCS_CALLBACK_AUTH=token needs CCS_CALLBACK_SECRET")
        return problems

    def redact(self, text: str) -> str:
        """Mask the configured secrets and every token-shaped string in `text` (DESIGN §8)."""
        return redact(text, self.secret_values())

    def secret_values(self) -> tuple[str, ...]:
        """Return every configured secret's value, for redaction (DESIGN §8)."""
        found = (self.webhook_secret, self.github_token, self.github_private_key,
                 self.api_token, self.callback_secret)
        return tuple(s.reveal() for s in found if s is not None and s.reveal())

    def describe(self) -> dict[str, Any]:
        """Return every setting as a dict safe to print (secrets and URL passwords masked)."""
        described: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, Secret):
                value = MASK
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, str) and item.name.endswith("_url"):
                value = mask_url_password(value)
            described[item.name] = value
        return described

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.describe().items())
        return f"Config({inner})"


_SECRET_FIELDS = frozenset(
    {"webhook_secret", "github_token", "github_private_key", "api_token", "callback_secret"}
)



def _log_format(value: str | None) -> str | None:
    from service.config.log_format import LOG_FORMATS

    return None if value is None else parse_choice("CCS_LOG_FORMAT", value.lower(), "plain",
                                                   LOG_FORMATS)


def _read(environ: Mapping[str, str]) -> dict[str, Any]:
    """Turn the environment into constructor arguments, raising ConfigError on bad values."""
    def get(name: str) -> str | None:
        value = environ.get(name)
        # An empty variable means "unset": docker and CI often export NAME= by accident.
        return value.strip() if value is not None and value.strip() else None

    def secret(name: str) -> Secret | None:
        value = environ.get(name)
        return Secret(value) if value else None

    values: dict[str, Any] = {
        "database_url": parse_url_like("CCS_DATABASE_URL", get("CCS_DATABASE_URL")),
        "queue_url": parse_url_like("CCS_QUEUE_URL", get("CCS_QUEUE_URL")),
        "webhook_secret": secret("CCS_WEBHOOK_SECRET"),
        "github_token": secret("CCS_GITHUB_TOKEN"),
        "github_app_id": parse_app_id(get("CCS_GITHUB_APP_ID")),
        "github_private_key": parse_private_key(environ, get("CCS_GITHUB_PRIVATE_KEY_PATH")),
        "public_url": parse_http_url("CCS_PUBLIC_URL", get("CCS_PUBLIC_URL")),
        "api_token": secret("CCS_API_TOKEN"),
        "callback_auth": parse_choice("CCS_CALLBACK_AUTH", get("CCS_CALLBACK_AUTH"), "oidc",
                                 CALLBACK_AUTH_MODES),
        "callback_secret": secret("CCS_CALLBACK_SECRET"),
        "oidc_jwks_url": parse_http_url("CCS_OIDC_JWKS_URL", get("CCS_OIDC_JWKS_URL")),
        "workflow": parse_workflow(get("CCS_WORKFLOW"), DEFAULT_WORKFLOW),
        "workspace_dir": parse_workspace(environ, get("CCS_WORKSPACE_DIR")),
        "child_timeout": parse_positive_int("CCS_CHILD_TIMEOUT", get("CCS_CHILD_TIMEOUT"),
                                       DEFAULT_CHILD_TIMEOUT),
        "command_prefix": parse_prefix(get("CCS_COMMAND_PREFIX"), DEFAULT_COMMAND_PREFIX),
        "auto_migrate": parse_bool("CCS_AUTO_MIGRATE", get("CCS_AUTO_MIGRATE"), True),
        "max_body_bytes": parse_positive_int("CCS_MAX_BODY_BYTES", get("CCS_MAX_BODY_BYTES"),
                                        DEFAULT_MAX_BODY_BYTES),
        "bot_login": get("CCS_BOT_LOGIN"),
        "reconcile_interval": parse_positive_int("CCS_RECONCILE_INTERVAL",
                                            get("CCS_RECONCILE_INTERVAL"),
                                            DEFAULT_RECONCILE_INTERVAL),
        "github_throttle": parse_bool("CCS_GITHUB_THROTTLE", get("CCS_GITHUB_THROTTLE"), True),
        "stream_heartbeat": parse_positive_number("CCS_STREAM_HEARTBEAT",
                                                  get("CCS_STREAM_HEARTBEAT"),
                                                  DEFAULT_STREAM_HEARTBEAT),
        "stream_poll": parse_positive_number("CCS_STREAM_POLL", get("CCS_STREAM_POLL"),
                                             DEFAULT_STREAM_POLL),
        "max_streams": parse_positive_int("CCS_MAX_STREAMS", get("CCS_MAX_STREAMS"),
                                          DEFAULT_MAX_STREAMS),
        "log_format": _log_format(get("CCS_LOG_FORMAT")),
        "log_level": parse_choice("CCS_LOG_LEVEL", (get("CCS_LOG_LEVEL") or "INFO").upper(), "INFO",
                             LOG_LEVELS),
    }
    api_url = parse_http_url("CCS_GITHUB_API_URL", get("CCS_GITHUB_API_URL"))
    if api_url:
        values["github_api_url"] = api_url
    issuer = parse_http_url("CCS_OIDC_ISSUER", get("CCS_OIDC_ISSUER"))
    if issuer:
        values["oidc_issuer"] = issuer
    return values
