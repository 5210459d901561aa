"""Real databases for the evidence tests: a SQLite file, and a private schema on the machine's PostgreSQL.

PostgreSQL is the server at 127.0.0.1:5432, database ``test``, trust auth, user ``postgres`` or ``root``
(``PARAPET_TEST_POSTGRES_URL`` overrides). Each test gets its own schema, ``parapet_t_<pid>_<random>``,
dropped afterwards, so concurrent runs never collide. With ``PARAPET_REQUIRE_POSTGRES=1`` (CI) a missing
server fails the tests that need it instead of skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine, text

from parapet.evidence.db import create_engine_for
from parapet.evidence.schema import metadata

CANDIDATE_URLS = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
)

_pg_base: str | None = None
_pg_error: str | None = None


def postgres_base_url() -> str:
    """The URL of the test server (cached), or fail/skip as PARAPET_REQUIRE_POSTGRES says."""
    global _pg_base, _pg_error
    if _pg_base is None and _pg_error is None:
        override = os.environ.get("PARAPET_TEST_POSTGRES_URL")
        errors = []
        for url in (override,) if override else CANDIDATE_URLS:
            engine = create_engine(url, connect_args={"connect_timeout": 5})
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                _pg_base = url
                break
            except Exception as exc:
                errors.append(f"{url}: {str(exc).splitlines()[0]}")
            finally:
                engine.dispose()
        if _pg_base is None:
            _pg_error = "; ".join(errors)
    if _pg_base is None:
        message = f"PostgreSQL is not reachable ({_pg_error})"
        if os.environ.get("PARAPET_REQUIRE_POSTGRES") == "1":
            pytest.fail(message + " and PARAPET_REQUIRE_POSTGRES=1", pytrace=False)
        pytest.skip(message)
    return _pg_base


@dataclass
class Database:
    """A fresh, empty database (no tables): ``url`` works for create_engine_for and for subprocesses."""

    kind: str
    url: str
    schema: str | None = None

    def engine(self) -> Engine:
        return create_engine_for(self.url)

    def create_all(self) -> Engine:
        engine = self.engine()
        metadata.create_all(engine)
        return engine


@pytest.fixture
def postgres_db() -> Iterator[Database]:
    """A private, empty schema on the test server, dropped afterwards."""
    with postgres_schema() as db:
        yield db


@contextmanager
def postgres_schema() -> Iterator[Database]:
    base = postgres_base_url()
    schema = f"parapet_t_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # application_name marks this test's sessions, so teardown can end any it left behind.
    url = f"{base}?options={quote(f'-csearch_path={schema}')}&application_name={schema}"
    try:
        yield Database("postgresql", url, schema)
    finally:
        with admin.connect() as conn:
            # End sessions a failed test may have left behind (a killed subprocess, a stuck thread).
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"),
                {"name": schema},
            )
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    return Database("sqlite", f"sqlite:///{tmp_path / '.parapet' / 'parapet.db'}")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Database:
    """Each test that takes it runs on SQLite and on PostgreSQL."""
    name = "sqlite_db" if request.param == "sqlite" else "postgres_db"
    db: Database = request.getfixturevalue(name)
    return db


@pytest.fixture
def engine(database: Database) -> Iterator[Engine]:
    """An engine on a database with the spine's tables, on both backends."""
    eng = database.create_all()
    try:
        yield eng
    finally:
        eng.dispose()
