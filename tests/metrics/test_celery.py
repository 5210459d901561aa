"""Celery signals with a real worker (in a thread) on Celery's in-memory broker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from prometheus_client import CollectorRegistry

from parapet.metrics.celery import instrument_celery
from tests.metrics.scrape import assert_contract, scrape, series, total

JOB_COUNT = "parapet_job_duration_seconds_count"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def celery_app(registry: CollectorRegistry) -> Iterator[Celery]:
    app = Celery("shop", broker="memory://", backend="cache+memory://", set_as_current=False)
    app.conf.update(
        task_default_queue="orders", worker_hijack_root_logger=False, broker_connection_retry_on_startup=True
    )
    attempts: dict[str, int] = {}

    @app.task(name="shop.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="shop.fail")
    def fail() -> None:
        raise ValueError("card declined")

    @app.task(name="shop.flaky", bind=True, max_retries=3)
    def flaky(self: Any) -> str:
        attempts["flaky"] = attempts.get("flaky", 0) + 1
        if attempts["flaky"] < 2:
            raise self.retry(countdown=0)
        return "ok"

    instrumentation = instrument_celery(app, registry=registry)
    try:
        yield app
    finally:
        instrumentation.remove()


def test_worker_records_outcomes_queue_wait_and_last_success(celery_app: Celery, registry: CollectorRegistry) -> None:
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        assert celery_app.tasks["shop.add"].delay(2, 3).get(timeout=10) == 5
        with pytest.raises(ValueError, match="card declined"):
            celery_app.tasks["shop.fail"].delay().get(timeout=10)
        assert celery_app.tasks["shop.flaky"].delay().get(timeout=10) == "ok"

    found = scrape(registry)
    assert_contract(
        found,
        (
            "parapet_job_duration_seconds",
            "parapet_job_queue_wait_seconds",
            "parapet_job_last_success_timestamp_seconds",
        ),
    )
    got = {(s["task"], s["queue"], s["outcome"]): total(found, JOB_COUNT, **s) for s in series(found, JOB_COUNT)}
    assert got == {
        ("shop.add", "orders", "success"): 1,
        ("shop.fail", "orders", "failure"): 1,
        ("shop.flaky", "orders", "retry"): 1,
        ("shop.flaky", "orders", "success"): 1,
    }
    assert {s["framework"] for s in series(found, JOB_COUNT)} == {"celery"}
    assert total(found, "parapet_job_queue_wait_seconds_count", framework="celery", queue="orders") == 4
    assert total(found, "parapet_job_last_success_timestamp_seconds", task="shop.add") > 0
    assert total(found, "parapet_job_last_success_timestamp_seconds", task="shop.fail") == 0
