"""The SQLite head schema as a snapshot: a new local database is created from it directly.

Importing Alembic and running every migration cost ~0.4 s of a user's first `ccs run` in
each repository (and of every benchmark run); executing the schema the migration chain
produces takes milliseconds. Existing databases still go through Alembic. A test keeps the
snapshot equal to the chain's result; regenerate it with
`python -m service.adapters.db.sqlite_schema --write`.
"""

from __future__ import annotations

import re
import sqlite3
import sys
import tempfile
from pathlib import Path

from sqlalchemy import Engine

SNAPSHOT = Path(__file__).with_name("sqlite_schema.sql")
HEADER = ("-- The SQLite schema the migrations produce (service/migrations).\n"
          "-- Generated: python -m service.adapters.db.sqlite_schema --write\n\n")
_VERSION = re.compile(r"^INSERT INTO alembic_version \(version_num\) VALUES \('([^']+)'\);$",
                      re.MULTILINE)


def dump(connection: sqlite3.Connection) -> str:
    """Return the schema of `connection` (tables, indexes, triggers, views) and its version."""
    # sqlite_master keeps each statement's original text, so replaying them rebuilds the
    # same schema. Alembic's batch mode recreates indexes in no fixed order: sort by kind
    # (tables before what is built on them) and name, so equal schemas dump equal text.
    statements = [sql for (sql,) in connection.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
        "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 "
        "ELSE 3 END, name")]
    # The version is a revision id from our own scripts, not outside input.
    statements += [f"INSERT INTO alembic_version (version_num) VALUES ('{version}')"  # noqa: S608
                   for (version,) in connection.execute("SELECT version_num FROM alembic_version")]
    return HEADER + "".join(f"{statement};\n\n" for statement in statements)


def snapshot_version(text: str) -> str | None:
    """Return the revision a snapshot's text records, or None."""
    found = _VERSION.findall(text)
    return found[0] if len(found) == 1 else None


def create_if_new(engine: Engine, head: str | None) -> bool:
    """Create the head schema in an SQLite database with no tables; return True if done.

    Call it under the migrate lock. Returns False (Alembic decides) when the database
    already has tables or the snapshot does not carry `head`.
    """
    text = SNAPSHOT.read_text()
    if head is None or snapshot_version(text) != head:
        return False
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        if connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
            return False
        # One transaction: a crash leaves no tables, and the next command starts over.
        connection.executescript(f"BEGIN IMMEDIATE;\n{text}COMMIT;")
        return True
    finally:
        raw.close()


def migrated_schema() -> str:
    """Run the whole migration chain on a new SQLite file and return its schema."""
    from service.adapters.db.engine import upgrade

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "schema.db"
        upgrade(f"sqlite:///{path}")  # no engine: always Alembic, never the snapshot
        connection = sqlite3.connect(path)
        try:
            return dump(connection)
        finally:
            connection.close()


def main(argv: list[str]) -> int:
    """Print the migrated schema, or with --write store it as the snapshot."""
    schema = migrated_schema()
    if "--write" in argv:
        SNAPSHOT.write_text(schema)
        print(f"wrote {SNAPSHOT}", file=sys.stderr)
    else:
        sys.stdout.write(schema)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
