"""Core statements run straight on the DB-API connection of the current transaction.

The callback's statements stay defined with SQLAlchemy Core (one source of truth); each is
compiled once per dialect into its SQL text, parameter order and SQLAlchemy's own bind
and result processors, so a value is stored and read back exactly as SQLAlchemy would.
What is skipped is the execution layer around each statement (execution context,
parameter construction, result setup): it cost more CPU than SQLite running the statement
(bench/callback_load.py). The transaction stays the SQLAlchemy Connection's: it begins,
commits and rolls back as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    """One statement compiled for one dialect."""

    sql: str
    names: tuple[str, ...]  # the parameters, in the order a positional driver takes them
    positional: bool
    fixed: dict[str, Any]  # values the statement carries itself (IN lists, literals)
    defaults: dict[str, Callable[[], Any]]  # columns' Python-side defaults (onupdate=utcnow)
    processors: dict[str, Callable[[Any], Any]]
    keys: tuple[str, ...]  # the result's column names


class Prepared:
    """A Core statement compiled lazily per dialect, run on the transaction's driver."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}
        self._results: dict[str, list[Processor]] = {}

    def execute(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        """Run the statement with `params` on `connection`'s transaction; return the cursor."""
        compiled = self._for(connection)
        values = {**compiled.fixed, **{name: make() for name, make in
                                       compiled.defaults.items()}, **params}
        for name, process in compiled.processors.items():
            values[name] = process(values[name])
        bound: Any = (tuple(values[name] for name in compiled.names) if compiled.positional
                      else {name: values[name] for name in compiled.names})
        driver = connection.connection.driver_connection
        cursor = driver.cursor()
        # Listeners (echo, tracing, the round-trip test) still see every statement sent.
        if connection.dispatch.before_cursor_execute:
            connection.dispatch.before_cursor_execute(connection, cursor, compiled.sql, bound,
                                                      None, False)
        cursor.execute(compiled.sql, bound)
        return cursor

    def first(self, connection: Connection, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """Run the statement; return its first row by column name (processed), or None."""
        cursor = self.execute(connection, params)
        try:
            row = cursor.fetchone()
            if row is None:
                return None
            processors = self._result_processors(connection, cursor)
            return {key: value if process is None else process(value)
                    for key, value, process in zip(self._for(connection).keys, row,
                                                   processors, strict=True)}
        finally:
            cursor.close()

    def _for(self, connection: Connection) -> _Compiled:
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled.setdefault(dialect.name, _compile(self.statement, dialect))
        return compiled

    def _result_processors(self, connection: Connection, cursor: Any) -> list[Processor]:
        dialect = connection.dialect
        processors = self._results.get(dialect.name)
        if processors is None:
            # The driver's type codes decide some processors (PostgreSQL numerics).
            columns = list(self.statement.exported_columns)
            processors = [column.type.dialect_impl(dialect).result_processor(dialect, info[1])
                          for column, info in zip(columns, cursor.description, strict=True)]
            processors = self._results.setdefault(dialect.name, processors)
        return processors


def _compile(statement: Any, dialect: Any) -> _Compiled:
    """Return the statement's SQL, parameter order and bind processors for `dialect`."""
    compiled = statement.compile(dialect=dialect)
    if compiled.escaped_bind_names:
        raise ValueError("parameter names that need escaping are not supported")
    required = {name: None for name, bind in compiled.binds.items() if bind.required}
    if any(compiled.binds[name].expanding for name in required):
        raise ValueError("an IN list given at execution is not supported (compiled once)")
    # The expanded state renders the statement's own IN lists; the caller's values are
    # only placeholders here.
    expanded = compiled.construct_expanded_state(required)
    defaults = {**{column.key: _default(column.default) for column in compiled.insert_prefetch},
                **{column.key: _default(column.onupdate)
                   for column in compiled.update_prefetch}}
    fixed = {name: value for name, value in expanded.parameters.items()
             if name not in required and name not in defaults}
    names = tuple(expanded.positiontup or expanded.parameters)
    return _Compiled(expanded.statement, names, compiled.positional, fixed, defaults,
                     _bind_processors(compiled, expanded, names),
                     tuple(column.key for column in statement.exported_columns))


def _bind_processors(compiled: Any, expanded: Any,
                     names: tuple[str, ...]) -> dict[str, Callable[[Any], Any]]:
    """Return each parameter's bind processor, as SQLAlchemy applies them (JSON, dates)."""
    dialect = compiled.dialect
    processors = {name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                  for name, bind in compiled.binds.items() if not bind.expanding}
    # The elements of the statement's own IN lists have processors of their own.
    processors.update(expanded.processors)
    return {name: process for name, process in processors.items()
            if process is not None and name in names}


def _default(default: Any) -> Callable[[], Any]:
    """Return what makes a column's Python-side default, as SQLAlchemy would at execution."""
    if default.is_scalar:
        return lambda: default.arg
    if default.is_callable:
        # SQLAlchemy wraps a function of no arguments into one taking the context.
        return lambda: default.arg(None)
    raise ValueError(f"the default {default!r} is not a Python value or function")
