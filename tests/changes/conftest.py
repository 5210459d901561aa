"""Change correlation on real databases (a SQLite file, a private PostgreSQL schema)."""

from __future__ import annotations

from tests.evidence.conftest import database, engine, postgres_db, sqlite_db  # noqa: F401
