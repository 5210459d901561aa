"""The work engine's tests run on a SQLite file and a private PostgreSQL schema (tests/evidence/conftest.py)."""

from __future__ import annotations

from tests.alerts.conftest import Clock, clock, store  # noqa: F401
from tests.evidence.conftest import database, engine, postgres_db, sqlite_db  # noqa: F401
