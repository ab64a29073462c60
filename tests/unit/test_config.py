"""Config: read once from a mapping, validated, secrets never printed."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from service.config import Config, ConfigError, Secret, mask_url_password

# Split so secret scanners do not take this fake for a committed key.
PEM = "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIfake\n-----END RSA " + "PRIVATE KEY-----\n"


def test_defaults_from_an_empty_environment() -> None:
    config = Config.from_env({"HOME": "/home/u"})
    assert config.database_url is None
    assert config.queue_url is None
    assert config.github_api_url == "https://api.github.com"
    assert config.callback_auth == "oidc"
    assert config.oidc_issuer == "https://token.actions.githubusercontent.com"
    assert config.oidc_jwks_url == "https://token.actions.githubusercontent.com/.well-known/jwks"
    assert config.workflow == "ccs.yml"
    assert config.workspace_dir == Path("/home/u/.local/share/ccs")
    assert config.child_timeout == 3600
    assert config.command_prefix == "/ccs"
    assert config.auto_migrate is True
    assert config.max_body_bytes == 5 * 1024 * 1024
    assert config.webhook_secret is None and config.api_token is None
    assert config.log_format is None  # plain on a terminal, JSON lines otherwise


def test_every_setting_is_read() -> None:
    config = Config.from_env({
        "CCS_DATABASE_URL": "postgresql+psycopg://ccs:pw@db/ccs",
        "CCS_QUEUE_URL": "redis://cache:6379/0",
        "CCS_WEBHOOK_SECRET": "hook",
        "CCS_GITHUB_API_URL": "http://127.0.0.1:9999/api/v3/",
        "CCS_GITHUB_APP_ID": "1234",
        "CCS_GITHUB_PRIVATE_KEY": PEM.replace("\n", "\\n"),
        "CCS_PUBLIC_URL": "https://ccs.example.com/",
        "CCS_API_TOKEN": "api",
        "CCS_CALLBACK_AUTH": "token",
        "CCS_OIDC_ISSUER": "http://127.0.0.1:8080",
        "CCS_WORKFLOW": "child-jobs.yaml",
        "CCS_WORKSPACE_DIR": "/srv/ccs",
        "CCS_CHILD_TIMEOUT": "120",
        "CCS_COMMAND_PREFIX": "/bot",
        "CCS_AUTO_MIGRATE": "0",
        "CCS_MAX_BODY_BYTES": "1024",
        "CCS_LOG_FORMAT": "JSON",
    })
    assert config.github_api_url == "http://127.0.0.1:9999/api/v3"
    assert config.public_url == config.oidc_audience == "https://ccs.example.com"
    assert config.github_app_id == 1234
    assert config.github_private_key is not None
    assert config.github_private_key.reveal() == PEM
    assert config.oidc_jwks_url == "http://127.0.0.1:8080/.well-known/jwks"
    assert config.callback_auth == "token"
    assert config.workflow == "child-jobs.yaml"
    assert config.child_timeout == 120
    assert config.command_prefix == "/bot"
    assert config.auto_migrate is False
    assert config.max_body_bytes == 1024
    assert config.log_format == "json"
    assert config.service_database_url() == "postgresql+psycopg://ccs:pw@db/ccs"
    assert config.service_problems() == []


def test_database_urls_when_unset(tmp_path: Path) -> None:
    config = Config.from_env({"CCS_WORKSPACE_DIR": str(tmp_path)})
    assert config.service_database_url() == f"sqlite:///{tmp_path}/ccs.db"
    assert config.local_database_url(tmp_path / "repo") == (
        f"sqlite:///{tmp_path}/repo/.git/ccs/ccs.db")


def test_private_key_is_read_from_a_path(tmp_path: Path) -> None:
    key = tmp_path / "app.pem"
    key.write_text(PEM)
    config = Config.from_env({"CCS_GITHUB_APP_ID": "7", "CCS_GITHUB_PRIVATE_KEY_PATH": str(key)})
    assert config.github_private_key is not None
    assert config.github_private_key.reveal() == PEM


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"CCS_CALLBACK_AUTH": "jwt"}, ["CCS_CALLBACK_AUTH", "oidc", "token"]),
        ({"CCS_CHILD_TIMEOUT": "soon"}, ["CCS_CHILD_TIMEOUT", "positive"]),
        ({"CCS_CHILD_TIMEOUT": "0"}, ["CCS_CHILD_TIMEOUT"]),
        ({"CCS_MAX_BODY_BYTES": "-5"}, ["CCS_MAX_BODY_BYTES"]),
        ({"CCS_AUTO_MIGRATE": "maybe"}, ["CCS_AUTO_MIGRATE", "true/false"]),
        ({"CCS_PUBLIC_URL": "ccs.example.com"}, ["CCS_PUBLIC_URL", "https://"]),
        ({"CCS_GITHUB_API_URL": "ftp://x"}, ["CCS_GITHUB_API_URL"]),
        ({"CCS_WORKFLOW": "../evil.yml"}, ["CCS_WORKFLOW"]),
        ({"CCS_COMMAND_PREFIX": "/c cs"}, ["CCS_COMMAND_PREFIX"]),
        ({"CCS_GITHUB_APP_ID": "abc"}, ["CCS_GITHUB_APP_ID", "numeric"]),
        ({"CCS_GITHUB_APP_ID": "12"}, ["CCS_GITHUB_PRIVATE_KEY"]),
        ({"CCS_GITHUB_PRIVATE_KEY_PATH": "/nonexistent/key.pem", "CCS_GITHUB_APP_ID": "1"},
         ["CCS_GITHUB_PRIVATE_KEY_PATH"]),
        ({"CCS_GITHUB_PRIVATE_KEY_PATH": "/k", "CCS_GITHUB_PRIVATE_KEY": PEM},
         ["only one"]),
        ({"CCS_DATABASE_URL": "ccs.db"}, ["CCS_DATABASE_URL", "sqlite:///"]),
        ({"CCS_LOG_FORMAT": "yaml"}, ["CCS_LOG_FORMAT", "json, plain"]),
    ],
)
def test_invalid_values_name_the_variable(environ: dict[str, str], names: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_env(environ)
    for name in names:
        assert name in str(caught.value)


def test_empty_variables_count_as_unset() -> None:
    config = Config.from_env({"CCS_CHILD_TIMEOUT": "", "CCS_WEBHOOK_SECRET": ""})
    assert config.child_timeout == 3600
    assert config.webhook_secret is None


def test_overrides_win_and_wrap_secrets() -> None:
    config = Config.from_env({"CCS_COMMAND_PREFIX": "/x"}, command_prefix="/y",
                             api_token="tok")
    assert config.command_prefix == "/y"
    assert isinstance(config.api_token, Secret)
    assert config.api_token.reveal() == "tok"
    with pytest.raises(ConfigError, match="unknown"):
        Config.from_env({}, no_such_setting=1)
    with pytest.raises(ConfigError, match="CCS_CALLBACK_AUTH"):
        Config.from_env({}, callback_auth="none")


def test_config_is_frozen() -> None:
    config = Config.from_env({})
    with pytest.raises(AttributeError):
        config.child_timeout = 1  # type: ignore[misc]


def test_secret_never_prints() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret} {secret!r}"
    assert secret.reveal() == "hunter2"
    assert secret == Secret("hunter2")
    assert secret != Secret("other")
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_config_repr_and_describe_mask_every_secret() -> None:
    values = {
        "CCS_WEBHOOK_SECRET": "s-webhook",
        "CCS_GITHUB_TOKEN": "s-token",
        "CCS_API_TOKEN": "s-api",
        "CCS_CALLBACK_SECRET": "s-callback",
        "CCS_GITHUB_APP_ID": "1",
        "CCS_GITHUB_PRIVATE_KEY": "s-key PRIVATE KEY",
        "CCS_DATABASE_URL": "postgresql://ccs:s-dbpass@db:5432/ccs",
        "CCS_QUEUE_URL": "redis://:s-redispass@cache:6379/0",
    }
    config = Config.from_env(values)
    described = config.describe()
    printed = " ".join([repr(config), str(config), str(described)])
    for secret in ("s-webhook", "s-token", "s-api", "s-callback", "s-key", "s-dbpass",
                   "s-redispass"):
        assert secret not in printed
    assert described["webhook_secret"] == "********"
    assert described["database_url"] == "postgresql://ccs:********@db:5432/ccs"
    assert described["github_private_key"] == "********"


def test_mask_url_password_leaves_plain_urls_alone() -> None:
    assert mask_url_password("sqlite:///tmp/ccs.db") == "sqlite:///tmp/ccs.db"


def test_callback_token_key() -> None:
    explicit = Config.from_env({"CCS_CALLBACK_SECRET": "abc"})
    assert explicit.callback_token_key() == b"abc"
    derived = Config.from_env({"CCS_WEBHOOK_SECRET": "hook"})
    assert derived.callback_token_key() not in (b"hook", b"")
    with pytest.raises(ConfigError, match="CCS_CALLBACK_SECRET"):
        Config.from_env({}).callback_token_key()


def test_service_problems_list_what_is_missing() -> None:
    problems = " ".join(Config.from_env({}).service_problems())
    assert "CCS_WEBHOOK_SECRET" in problems
    assert "CCS_GITHUB_TOKEN" in problems
    assert "CCS_PUBLIC_URL" in problems


def test_nothing_reads_the_environment_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCS_CHILD_TIMEOUT", "77")
    assert Config.from_env().child_timeout == 77
    assert Config.from_env({}).child_timeout == 3600
