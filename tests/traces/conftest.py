"""Trace ids on real databases (a SQLite file, a private PostgreSQL schema)."""

from __future__ import annotations

from tests.alerts.conftest import clock, store  # noqa: F401
from tests.evidence.conftest import database, engine, postgres_db, sqlite_db  # noqa: F401
