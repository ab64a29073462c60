"""A new SQLite database is created from the schema snapshot; the snapshot is the chain's."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from service.adapters.db import sqlite_schema
from service.adapters.db.engine import at_head, head_revision, make_engine, upgrade
from service.adapters.db.store import Store

REGENERATE = "python -m service.adapters.db.sqlite_schema --write"


def _schema(path: Path) -> str:
    connection = sqlite3.connect(path)
    try:
        return sqlite_schema.dump(connection)
    finally:
        connection.close()


def test_the_snapshot_is_what_the_migration_chain_produces() -> None:
    migrated = sqlite_schema.migrated_schema()
    assert sqlite_schema.snapshot_version(migrated) == head_revision()
    assert migrated == sqlite_schema.SNAPSHOT.read_text(), (
        f"{sqlite_schema.SNAPSHOT.name} is not the schema the migrations produce: "
        f"regenerate it with `{REGENERATE}` and commit it")


def test_a_new_database_gets_the_snapshot_without_alembic(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "alembic", None)  # importing it would fail
    path = tmp_path / "ccs.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(url, engine)
    assert at_head(engine)
    assert _schema(path) == sqlite_schema.SNAPSHOT.read_text()
    Store(engine).sessions("local:x")  # the store works on it
    upgrade(url, engine)  # and a second run has nothing to do
    engine.dispose()


def test_a_database_with_tables_is_left_to_alembic(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE unrelated (id INTEGER)")
    connection.commit()
    connection.close()
    engine = make_engine(f"sqlite:///{path}")
    assert not sqlite_schema.create_if_new(engine, head_revision())
    assert not sqlite_schema.create_if_new(make_engine(f"sqlite:///{tmp_path / 'n.db'}"), "x")
    engine.dispose()

