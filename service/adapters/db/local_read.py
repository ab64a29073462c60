"""Read-only views of the local SQLite session log with stdlib sqlite3 (no SQLAlchemy).

`ccs status` only reads: importing SQLAlchemy, Alembic and GitPython to run two SELECTs
cost ~1 s of start-up (bench/cli_startup.py). These queries are the ones `Store.sessions`,
`Store.session` and `Store.children` make (tests/integration/test_store.py checks that
both give the same answers); anything unusual (no file yet, an older schema) raises
`Unavailable` and the caller takes the full road, which migrates.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

_TIMES = ("created_at", "updated_at")
_SESSIONS = ("SELECT id, repository, context, status, branch, base_ref, base_sha, message, "
             "final_commit, merged_commit, pull_request_url, created_at, updated_at "
             "FROM sessions WHERE repository = ? ORDER BY created_at DESC, id DESC LIMIT ?")
_SESSION = ("SELECT id, repository, context, status, branch, base_ref, base_sha, message, "
            "final_commit, merged_commit, pull_request_url, created_at, updated_at "
            "FROM sessions WHERE id = ? AND repository = ?")
_CHILDREN = ("SELECT id, session_id, kind, component, position, status, attempts, \"commit\", "
             "message, tests_passed, tests_failed, tests_errors, tests_skipped, cost_usd, "
             "input_tokens, output_tokens, run_url, spec, changed_files "
             "FROM children WHERE session_id = ? AND kind IN ('component', 'integration') "
             "ORDER BY position")
_JSON = ("spec", "changed_files")


class Unavailable(LookupError):
    """The lean read cannot answer (no database, another schema, no such session)."""


def _connect(database: Path) -> sqlite3.Connection:
    if not database.is_file():
        raise Unavailable(f"no database at {database}")
    # Read-only: a status never creates, migrates or locks the file for writing.
    return sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True, timeout=30)


def _rows(database: Path, query: str, params: tuple) -> list[SimpleNamespace]:
    try:
        connection = _connect(database)
        try:
            cursor = connection.execute(query, params)
            names = tuple(column[0] for column in cursor.description)
            found = cursor.fetchall()
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise Unavailable(f"cannot read {database}: {error}") from None
    return [_record(names, row) for row in found]


def _record(names: tuple[str, ...], row: tuple) -> SimpleNamespace:
    values = dict(zip(names, row, strict=True))
    for name in _TIMES:
        if isinstance(values.get(name), str):
            values[name] = datetime.fromisoformat(values[name])
    for name in _JSON:
        if isinstance(values.get(name), str):
            values[name] = json.loads(values[name])
    return SimpleNamespace(**values)


def sessions(database: Path, repository: str, limit: int = 50) -> list[SimpleNamespace]:
    """Return the repository's sessions, newest first (as `Store.sessions`)."""
    return _rows(database, _SESSIONS, (repository, limit))


def session_with_children(database: Path, session_id: str, repository: str
                          ) -> tuple[SimpleNamespace, list[SimpleNamespace]]:
    """Return one session and its component (and integration) children in spawn order, or
    raise Unavailable."""
    found = _rows(database, _SESSION, (session_id, repository))
    if not found:
        raise Unavailable(f"no session {session_id!r}")
    return found[0], _rows(database, _CHILDREN, (session_id,))
