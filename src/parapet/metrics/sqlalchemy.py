"""SQLAlchemy engine instrumentation (sync and async engines).

    engine = create_engine(url)
    instrument_engine(engine)                  # or an AsyncEngine: its sync_engine is instrumented

Each cursor execution records ``db_client_operation_duration_seconds`` with the database system and the
statement's first SQL keyword from a closed set (anything else is ``OTHER``); the statement text, its
tables and parameters never become labels. A failed execution records the exception's class name as
``error_type``. Transaction control that the driver does without a statement (``connection.commit()``) is
not a cursor execution and is not recorded.
"""

from __future__ import annotations

import re
import weakref
from time import perf_counter
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from parapet.metrics.contract import DB_OPERATIONS, contract

_KEY = "parapet_db_starts"
_FIRST_WORD = re.compile(r"\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*([A-Za-z]+)", re.DOTALL)
_OPERATIONS = frozenset(DB_OPERATIONS)
_ALIASES = {"START": "BEGIN", "END": "COMMIT", "REPLACE": "INSERT", "UPSERT": "INSERT"}

# SQLAlchemy dialect names -> OpenTelemetry db.system.name values.
_SYSTEMS = {
    "postgresql": "postgresql",
    "sqlite": "sqlite",
    "mysql": "mysql",
    "mariadb": "mariadb",
    "oracle": "oracle.db",
    "mssql": "microsoft.sql_server",
}

_instrumented: weakref.WeakKeyDictionary[Engine, EngineInstrumentation] = weakref.WeakKeyDictionary()


def operation_name(statement: str) -> str:
    """The statement's first keyword in the closed set of ``db_operation_name``, else ``OTHER``."""
    match = _FIRST_WORD.match(statement)
    if match is None:
        return "OTHER"
    word = match.group(1).upper()
    word = _ALIASES.get(word, word)
    return word if word in _OPERATIONS else "OTHER"


def system_name(dialect_name: str) -> str:
    return _SYSTEMS.get(dialect_name, "other_sql")


class EngineInstrumentation:
    """The event listeners on one engine; ``remove()`` detaches them."""

    def __init__(self, engine: Engine, registry: CollectorRegistry | None) -> None:
        self.engine = engine
        self.system = system_name(engine.dialect.name)
        self._duration = contract(registry).db_duration
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "handle_error", self._error)

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)
        event.remove(self.engine, "handle_error", self._error)
        _instrumented.pop(self.engine, None)

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        conn.info.setdefault(_KEY, []).append(perf_counter())

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        starts = conn.info.get(_KEY)
        if not starts:
            return
        seconds = perf_counter() - starts.pop()
        self._duration.child((self.system, operation_name(statement), "")).observe(seconds)

    def _error(self, context: Any) -> None:
        conn = context.connection
        starts = conn.info.get(_KEY) if conn is not None and not conn.closed else None
        if not starts or context.statement is None:
            return
        seconds = perf_counter() - starts.pop()
        error = type(context.original_exception).__qualname__
        self._duration.child((self.system, operation_name(context.statement), error)).observe(seconds)


def instrument_engine(
    engine: Engine | AsyncEngine, *, registry: CollectorRegistry | None = None
) -> EngineInstrumentation:
    """Record every cursor execution of ``engine``; instrumenting an engine twice is a no-op."""
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    found = _instrumented.get(sync_engine)
    if found is None:
        found = EngineInstrumentation(sync_engine, registry)
        _instrumented[sync_engine] = found
    return found
