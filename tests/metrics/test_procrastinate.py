"""procrastinate: a real worker with Parapet's middleware, on the PostgreSQL server at 127.0.0.1:5432 (in a
schema of its own, dropped afterwards) and on procrastinate's in-memory connector."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import psycopg
import pytest
from procrastinate import App, JobContext, PsycopgConnector, RetryStrategy
from procrastinate.exceptions import JobAborted
from procrastinate.testing import InMemoryConnector
from prometheus_client import CollectorRegistry
from psycopg import sql

from parapet.metrics.procrastinate import ParapetMiddleware, instrument_procrastinate
from tests.metrics.scrape import assert_contract, scrape, series, total

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
JOB_COUNT = "parapet_job_duration_seconds_count"
WAIT = "parapet_job_queue_wait_seconds"
FAMILIES = ("parapet_job_duration_seconds", WAIT, "parapet_job_last_success_timestamp_seconds")
FINAL = frozenset({"succeeded", "failed", "aborted", "cancelled"})
QUEUED_FOR = 0.3  # how long the first jobs sit in their queue before the worker starts
SCHEDULED_IN = 1.5  # the scheduled job becomes runnable this long after it is deferred


def shop_app(connector: Any) -> App:
    """The tasks every scenario runs: each outcome of METRICS.md that procrastinate can produce."""
    app = App(connector=connector)

    @app.task(name="shop.add", queue="orders")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="shop.fail", queue="orders")
    def fail() -> None:
        raise ValueError("card declined")

    @app.task(name="shop.flaky", queue="orders", retry=RetryStrategy(max_attempts=2), pass_context=True)
    def flaky(context: JobContext) -> str:
        if context.job.attempts == 0:
            raise ConnectionError("provider unreachable")
        return "ok"

    @app.task(name="shop.slow_provider", queue="orders")
    async def slow_provider() -> None:
        await asyncio.wait_for(asyncio.sleep(5), timeout=0.01)

    @app.task(name="shop.report", queue="reports")
    async def report() -> str:
        return "done"

    @app.task(name="shop.stuck", queue="orders", pass_context=True)
    def stuck(context: JobContext) -> None:
        deadline = time.monotonic() + 20
        while not context.should_abort():
            if time.monotonic() > deadline:
                raise RuntimeError("never aborted")
            time.sleep(0.02)
        raise JobAborted("aborted by the test")

    return app


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running_worker(app: App, **options: Any) -> Any:
    """A real worker on this event loop, stopped (gracefully, bounded) when the block ends."""
    worker = asyncio.create_task(
        app.run_worker_async(
            install_signal_handlers=False,
            fetch_job_polling_interval=0.05,
            abort_job_polling_interval=0.05,
            shutdown_graceful_timeout=5,
            **options,
        )
    )
    try:
        yield worker
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(worker, timeout=10)


async def run_scenario(app: App) -> dict[str, int]:
    """Defer one job of each kind, run a worker until all are final, and return the job ids."""
    tasks = app.tasks
    ids = {
        "add": await tasks["shop.add"].defer_async(x=2, y=3),
        "fail": await tasks["shop.fail"].defer_async(),
        "flaky": await tasks["shop.flaky"].defer_async(),
        "slow_provider": await tasks["shop.slow_provider"].defer_async(),
        "report": await tasks["shop.report"].configure(schedule_in={"seconds": SCHEDULED_IN}).defer_async(),
        "stuck": await tasks["shop.stuck"].configure(priority=-1).defer_async(),
    }
    await asyncio.sleep(QUEUED_FOR)
    manager = app.job_manager

    async def status(name: str) -> str:
        return (await manager.get_job_status_async(ids[name])).value

    async def all_final() -> bool:
        return all([await status(name) in FINAL for name in ids])

    async def stuck_running() -> bool:
        return await status("stuck") == "doing"

    async with running_worker(app, concurrency=2, listen_notify=True):
        await until(stuck_running, "the stuck job to start")
        assert await manager.cancel_job_by_id_async(ids["stuck"], abort=True)
        await until(all_final, "every job to finish")
    return ids


def assert_scenario(registry: CollectorRegistry) -> None:
    found = scrape(registry)
    assert_contract(found, FAMILIES)
    got = {(s["task"], s["queue"], s["outcome"]): total(found, JOB_COUNT, **s) for s in series(found, JOB_COUNT)}
    assert got == {
        ("shop.add", "orders", "success"): 1,
        ("shop.fail", "orders", "failure"): 1,
        ("shop.flaky", "orders", "retry"): 1,
        ("shop.flaky", "orders", "success"): 1,
        ("shop.slow_provider", "orders", "timeout"): 1,
        ("shop.report", "reports", "success"): 1,
        ("shop.stuck", "orders", "revoked"): 1,
    }
    assert {s["framework"] for s in series(found, JOB_COUNT)} == {"procrastinate"}
    # every run waited: six on orders (the flaky job twice), one on reports
    assert total(found, f"{WAIT}_count", framework="procrastinate", queue="orders") == 6
    assert total(found, f"{WAIT}_count", framework="procrastinate", queue="reports") == 1
    # the first five jobs sat in their queue for QUEUED_FOR before the worker started
    assert total(found, f"{WAIT}_sum", queue="orders") >= 5 * QUEUED_FOR * 0.9
    # the scheduled job waited from its scheduled time, not from its deferral SCHEDULED_IN earlier
    assert total(found, f"{WAIT}_sum", queue="reports") < SCHEDULED_IN - 0.5
    now = time.time()
    for task in ("shop.add", "shop.flaky", "shop.report"):
        assert now - 60 < total(found, "parapet_job_last_success_timestamp_seconds", task=task) <= now
    for task in ("shop.fail", "shop.slow_provider", "shop.stuck"):
        assert total(found, "parapet_job_last_success_timestamp_seconds", task=task) == 0


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A fresh schema for procrastinate's tables, types and functions, dropped with all of them afterwards."""
    try:
        admin = psycopg.connect(POSTGRES, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("PARAPET_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is required: {exc}")
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {exc}")
    schema = f"parapet_procrastinate_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield schema
        finally:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def test_worker_on_postgresql_records_outcomes_queue_wait_and_last_success(postgres_schema: str) -> None:
    registry = CollectorRegistry()
    connector = PsycopgConnector(
        conninfo=POSTGRES, kwargs={"options": f"-c search_path={postgres_schema}"}, min_size=1, max_size=4
    )
    app = shop_app(connector)
    middleware = instrument_procrastinate(app, registry=registry)
    assert app.worker_defaults["worker_middleware"] == [middleware]

    async def main() -> dict[str, int]:
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            return await run_scenario(app)

    ids = asyncio.run(main())
    assert_scenario(registry)

    with psycopg.connect(POSTGRES, options=f"-c search_path={postgres_schema}") as conn:
        rows = conn.execute("SELECT id, status::text FROM procrastinate_jobs").fetchall()
    statuses = dict(rows)
    assert {name: statuses[job_id] for name, job_id in ids.items()} == {
        "add": "succeeded",
        "fail": "failed",
        "flaky": "succeeded",
        "slow_provider": "failed",
        "report": "succeeded",
        "stuck": "aborted",
    }


def test_unreadable_job_events_skip_the_queue_wait_not_the_job(
    postgres_schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    app = shop_app(PsycopgConnector(conninfo=POSTGRES, kwargs={"options": f"-c search_path={postgres_schema}"}))
    instrument_procrastinate(app, registry=registry)
    caplog.set_level(logging.DEBUG, logger="parapet.metrics.procrastinate")

    async def main() -> None:
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            # procrastinate itself still works (its triggers leave the column to its default) but the
            # middleware's query of the event times fails
            await app.connector.execute_query_async("ALTER TABLE procrastinate_events RENAME COLUMN at TO at_moved")
            await app.tasks["shop.add"].defer_async(x=1, y=2)
            await app.tasks["shop.fail"].defer_async()
            await app.run_worker_async(wait=False, install_signal_handlers=False)

    asyncio.run(main())
    found = scrape(registry)
    assert {(s["task"], s["outcome"]) for s in series(found, JOB_COUNT)} == {
        ("shop.add", "success"),
        ("shop.fail", "failure"),
    }
    assert total(found, f"{WAIT}_count") == 0
    ours = [r for r in caplog.records if r.name == "parapet.metrics.procrastinate"]
    assert [r.levelno for r in ours] == [logging.WARNING, logging.DEBUG]
    assert ours[0].getMessage() == (
        'parapet: no queue wait for procrastinate jobs, their events are unreadable: column "at" does not exist'
    )


def test_worker_on_the_in_memory_connector() -> None:
    registry = CollectorRegistry()
    app = shop_app(InMemoryConnector())
    instrument_procrastinate(app, registry=registry)

    async def main() -> None:
        async with app.open_async():
            await run_scenario(app)

    asyncio.run(main())
    assert_scenario(registry)


def test_middleware_without_queue_wait_and_in_a_worker_of_its_own() -> None:
    registry = CollectorRegistry()
    app = shop_app(InMemoryConnector())

    async def main() -> None:
        async with app.open_async():
            await app.tasks["shop.add"].defer_async(x=1, y=1)
            await app.tasks["shop.fail"].defer_async()
            await app.run_worker_async(
                wait=False,
                install_signal_handlers=False,
                worker_middleware=[ParapetMiddleware(registry, queue_wait=False)],
            )

    asyncio.run(main())
    found = scrape(registry)
    assert {(s["task"], s["outcome"]) for s in series(found, JOB_COUNT)} == {
        ("shop.add", "success"),
        ("shop.fail", "failure"),
    }
    assert total(found, f"{WAIT}_count") == 0


def test_instrumenting_twice_is_refused() -> None:
    app = App(connector=InMemoryConnector())

    async def other(call_next: Callable[[], Awaitable[Any]], context: JobContext, worker: Any) -> Any:
        return await call_next()

    app.worker_defaults["worker_middleware"] = [other]
    first = instrument_procrastinate(app)
    assert app.worker_defaults["worker_middleware"] == [first, other]
    with pytest.raises(ValueError, match="already instrumented"):
        instrument_procrastinate(app)


def test_importing_parapet_metrics_does_not_import_procrastinate() -> None:
    code = "import sys, parapet.metrics\nprint('procrastinate' in sys.modules, 'psycopg' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
