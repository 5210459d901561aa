"""SQLAlchemy engines, sync and async, on SQLite and on the PostgreSQL server at 127.0.0.1:5432."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from parapet.metrics.sqlalchemy import instrument_engine, operation_name
from tests.metrics.scrape import assert_contract, scrape, series, total

COUNT = "db_client_operation_duration_seconds_count"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def _postgres() -> Engine:
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        if os.environ.get("PARAPET_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is required: {exc}")
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {exc}")
    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    engine = create_engine("sqlite://") if request.param == "sqlite" else _postgres()
    yield engine
    engine.dispose()


def _workload(conn: object) -> None:
    execute = conn.execute  # type: ignore[attr-defined]
    execute(text("CREATE TEMPORARY TABLE parapet_orders (id INTEGER PRIMARY KEY, customer TEXT)"))
    for i in range(5):
        execute(text("INSERT INTO parapet_orders (id, customer) VALUES (:id, :c)"), {"id": i, "c": f"user-{i}@x.org"})
    execute(
        text("INSERT INTO parapet_orders (id, customer) VALUES (:id, :c)"), [{"id": 10, "c": "a"}, {"id": 11, "c": "b"}]
    )
    for i in range(3):
        execute(text(f"SELECT * FROM parapet_orders WHERE id = {i}"))
    execute(text("/* report */ update parapet_orders SET customer = 'z' WHERE id = 1"))
    execute(text("DELETE FROM parapet_orders WHERE id = 2"))
    execute(text("WITH t AS (SELECT 1 AS x) SELECT x FROM t"))


def test_sync_engine_records_verbs_never_statements(engine: Engine, registry: CollectorRegistry) -> None:
    instrument_engine(engine, registry=registry)
    instrument_engine(engine, registry=registry)  # a second call is a no-op
    with engine.begin() as conn:
        _workload(conn)
    with pytest.raises(DBAPIError), engine.connect() as conn:
        conn.execute(text("SELECT * FROM parapet_no_such_table"))
    found = scrape(registry)
    assert_contract(found, ("db_client_operation_duration_seconds",))
    system = engine.dialect.name
    ok = {s["db_operation_name"]: total(found, COUNT, **s) for s in series(found, COUNT) if s["error_type"] == ""}
    assert ok["CREATE"] == 1
    assert ok["INSERT"] == 6  # executemany is one cursor execution
    assert ok["UPDATE"] == 1
    assert ok["DELETE"] == 1
    assert ok["OTHER"] == 1  # WITH …
    assert ok["SELECT"] >= 3
    errors = [s for s in series(found, COUNT) if s["error_type"]]
    assert len(errors) == 1
    assert errors[0]["db_operation_name"] == "SELECT"
    assert errors[0]["error_type"] in ("OperationalError", "UndefinedTable")
    assert all(set(s) == {"db_system_name", "db_operation_name", "error_type"} for s in series(found, COUNT))
    assert {s["db_system_name"] for s in series(found, COUNT)} == {system}
    text_dump = str(found)
    assert "parapet_orders" not in text_dump and "user-1" not in text_dump


@pytest.mark.parametrize("url", ["sqlite+aiosqlite://", POSTGRES_URL])
def test_async_engine(url: str, registry: CollectorRegistry) -> None:
    if url.startswith("postgresql"):
        _postgres().dispose()

    async def run() -> None:
        engine = create_async_engine(url)
        instrument_engine(engine, registry=registry)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TEMPORARY TABLE parapet_items (id INTEGER)"))
                await conn.execute(text("INSERT INTO parapet_items VALUES (1)"))
                await conn.execute(text("SELECT id FROM parapet_items"))
        finally:
            await engine.dispose()

    asyncio.run(run())
    found = scrape(registry)
    assert_contract(found, ("db_client_operation_duration_seconds",))
    for verb in ("CREATE", "INSERT", "SELECT"):
        assert total(found, COUNT, db_operation_name=verb, error_type="") >= 1, verb


def test_removed_instrumentation_stops_recording(registry: CollectorRegistry) -> None:
    engine = create_engine("sqlite://")
    instrumentation = instrument_engine(engine, registry=registry)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    instrumentation.remove()
    with engine.connect() as conn:
        conn.execute(text("SELECT 2"))
    assert total(scrape(registry), COUNT) == 1


@pytest.mark.parametrize(
    ("statement", "verb"),
    [
        ("SELECT 1", "SELECT"),
        ("  select 1", "SELECT"),
        ("-- note\nINSERT INTO t VALUES (1)", "INSERT"),
        ("/* a\nb */ DELETE FROM t", "DELETE"),
        ("begin", "BEGIN"),
        ("START TRANSACTION", "BEGIN"),
        ("REPLACE INTO t VALUES (1)", "INSERT"),
        ("savepoint sa_1", "SAVEPOINT"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "OTHER"),
        ("VACUUM", "OTHER"),
        ("", "OTHER"),
        ("42", "OTHER"),
    ],
)
def test_operation_names(statement: str, verb: str) -> None:
    assert operation_name(statement) == verb
