"""The Store's transactions: a unit per call, or one atomic block for many calls."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker


class Transactions:
    """unit() (ORM session), connect() (plain connection) and atomic() (mixed into Store)."""

    engine: Engine
    _sessions: sessionmaker
    _local: threading.local

    @contextmanager
    def unit(self) -> Iterator[Session]:
        """Yield a database session that commits on success and rolls back on error.

        Inside `atomic()` (same thread) it joins that transaction instead (and flushes at
        the end of the block, so plain statements that follow see what it wrote).
        """
        joined: _Atomic | None = getattr(self._local, "atomic", None)
        if joined is not None:
            yield joined.session
            joined.session.flush()
            return
        with self._sessions.begin() as db:
            yield db

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """Yield a plain connection in a transaction (the atomic block's, if any): for the
        hot paths' compiled statements, without the ORM session's bookkeeping."""
        joined: _Atomic | None = getattr(self._local, "atomic", None)
        if joined is not None:
            yield joined.connection
            return
        with self.engine.begin() as connection:
            yield connection

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Run every store call this thread makes inside the block in ONE transaction.

        Commits when the block ends, rolls back if it raises. A request handler uses it to
        pay for one commit (and, on SQLite, one turn at the write lock) instead of several.
        """
        if getattr(self._local, "atomic", None) is not None:
            yield
            return
        with self.engine.begin() as connection:
            self._local.atomic = joined = _Atomic(connection)
            try:
                yield
            finally:
                self._local.atomic = None
                joined.close()


class _Atomic:
    """One atomic() block: its connection, and an ORM session on it made when needed."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        """Return the block's ORM session (joined to its transaction, never committing it)."""
        if self._session is None:
            self._session = Session(bind=self.connection, expire_on_commit=False)
        return self._session

    def close(self) -> None:
        """Close the ORM session (the connection's transaction is the block's to end)."""
        if self._session is not None:
            self._session.close()
