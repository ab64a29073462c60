"""Engines and migrations: SQLite for one process, PostgreSQL for many."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "migrations"


def make_engine(url: str) -> Engine:
    """Return an engine for `url`, tuned for concurrent use by threads and processes."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # No pre-ping: a SQLite file "connection" cannot go stale.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping either (it was a round trip per checkout, a third of a callback's): a
    # connection is recycled before servers or proxies drop idle ones, and when the server
    # went away anyway the failing statement's disconnect error makes SQLAlchemy discard
    # the whole pool, so only that one transaction fails (its task or job retries it).
    return create_engine(url, pool_size=10, max_overflow=20, pool_recycle=600,
                         pool_use_lifo=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers run while a child result is being written; the busy timeout makes
    # concurrent writers wait for each other instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # Under WAL, NORMAL syncs the log at checkpoints instead of at every commit: the file
    # cannot be corrupted (a crash rolls back to a consistent state), but a power loss or
    # OS crash (not a process crash) may undo the last commits before the next checkpoint.
    # Every step is idempotent and reconcile re-reads GitHub, so at worst a lost callback is
    # recovered from workflow events or timed out; in return a commit costs no fsync.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config(url: str):
    """Return an Alembic Config pointing at the packaged migrations."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, engine: Engine | None = None) -> None:
    """Apply every migration to the database at `url` (safe to run repeatedly).

    With `engine`, a new SQLite database gets the head schema from the snapshot instead.
    """
    if engine is not None and at_head(engine):
        # Importing Alembic and its scripts to learn there is nothing to do cost ~0.3 s of
        # every local command (bench/local_run.py).
        return
    if engine is not None and engine.dialect.name == "sqlite":
        from service.adapters.db.sqlite_schema import create_if_new

        if create_if_new(engine, head_revision()):
            return  # a new database: the head schema at once, without Alembic (~0.4 s)
    from alembic import command

    config = alembic_config(url)
    if engine is not None:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    else:
        command.upgrade(config, "head")


_REVISION = re.compile(r'^(down_)?revision = (?:"([^"]*)"|None)$', re.MULTILINE)


def head_revision() -> str | None:
    """Return the newest revision, read from the scripts' text (no Alembic), or None when
    the scripts are not one plain chain (then Alembic decides)."""
    revisions, parents = set(), set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = {bool(down): value for down, value in _REVISION.findall(script.read_text())}
        if False not in found:
            return None
        revisions.add(found[False])
        parents.add(found.get(True) or None)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def at_head(engine: Engine) -> bool:
    """Return True when the database already carries the newest revision."""
    head = head_revision()
    if head is None:
        return False
    try:
        with engine.connect() as connection:
            versions = [row[0] for row in connection.exec_driver_sql(
                "SELECT version_num FROM alembic_version")]
    except SQLAlchemyError:
        return False  # no database or no version table yet: migrate
    return versions == [head]
