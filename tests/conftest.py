"""Shared fixtures: service URLs and the rule that CI must not skip service tests."""

from __future__ import annotations

import os

import pytest

REQUIRE_SERVICES = os.environ.get("CCS_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get(
    "CCS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("CCS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def skip_or_fail(reason: str) -> None:
    """Skip with `reason`, or fail when CI requires the services to be there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (CCS_REQUIRE_SERVICES=1, so this must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """Return a reachable PostgreSQL URL, or skip/fail saying why not."""
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
    except Exception as error:  # noqa: BLE001 - any failure means "not reachable"
        skip_or_fail(f"PostgreSQL not reachable at {POSTGRES_URL}: {error}")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Return a reachable Redis URL, or skip/fail saying why not."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as error:  # noqa: BLE001
        skip_or_fail(f"Redis not reachable at {REDIS_URL}: {error}")
    return REDIS_URL




@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """Give git a fixed identity and no user config, so tests behave the same everywhere."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        monkeypatch.setenv(var, "Test User")
    for var in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(var, "test@example.invalid")
    for var in list(os.environ):
        if var.startswith("CCS_") and var not in (
            "CCS_REQUIRE_SERVICES", "CCS_TEST_POSTGRES_URL", "CCS_TEST_REDIS_URL"
        ):
            monkeypatch.delenv(var, raising=False)
