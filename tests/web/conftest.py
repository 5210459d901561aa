"""The UI on real databases (a SQLite file, a private PostgreSQL schema), mounted at /parapet as a host would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from parapet.evidence import Store
from parapet.web import create_app
from tests.evidence.conftest import Database, postgres_db, sqlite_db  # noqa: F401
from tests.web.helpers import Clock, seed, write_users

SECRET = "test-session-secret-0123456789abcdef0123456789"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Database:
    name = "sqlite_db" if request.param == "sqlite" else "postgres_db"
    db: Database = request.getfixturevalue(name)
    return db


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(database: Database, clock: Clock) -> Iterator[Store]:
    engine = database.create_all()
    try:
        yield Store(engine, clock=clock)
    finally:
        engine.dispose()


@pytest.fixture
def seeded(store: Store, clock: Clock) -> dict[str, int]:
    return seed(store, clock)


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    return write_users(tmp_path / "users")


def host_with(**options: Any) -> Starlette:
    """A host app with Parapet mounted at /parapet, as the docs tell a FastAPI/Starlette host to do."""
    return Starlette(routes=[Mount("/parapet", app=create_app(spec_path=None, session_secret=SECRET, **options))])


@pytest.fixture
def app(store: Store, users_file: Path) -> Starlette:
    return host_with(store=store, users_file=users_file)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as c:
        yield c
