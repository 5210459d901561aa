"""The UI on real databases (a SQLite file, a private PostgreSQL schema), mounted at /parapet as a host would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from parapet.evidence import Store
from parapet.web.identity import Authenticator, UsersFile
from parapet.web.ui import UISettings, build_ui
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


def mounted(settings: UISettings) -> Starlette:
    return Starlette(routes=[Mount("/parapet", app=build_ui(settings))])


@pytest.fixture
def app(store: Store, users_file: Path) -> Starlette:
    return mounted(UISettings(store=store, auth=Authenticator(users_file=UsersFile(users_file)), session_secret=SECRET))


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as c:
        yield c
