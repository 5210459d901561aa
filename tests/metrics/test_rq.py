"""RQ with a real redis-server on loopback and Parapet's worker class."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from redis import Redis
from rq import Queue, Retry

from parapet.metrics.rq import ParapetSimpleWorker
from tests.metrics import rq_jobs
from tests.metrics.scrape import assert_contract, scrape, series, total

JOB_COUNT = "parapet_job_duration_seconds_count"


@pytest.fixture(scope="module")
def redis_conn() -> Iterator[Redis]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: apt-get install -y redis-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    conn = Redis(host="127.0.0.1", port=port)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                conn.ping()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield conn
    finally:
        conn.close()
        process.terminate()
        process.wait(timeout=10)


def test_worker_records_outcomes_and_queue_wait(redis_conn: Redis) -> None:
    registry = CollectorRegistry()

    class Worker(ParapetSimpleWorker):
        parapet_registry = registry

    queue = Queue("emails", connection=redis_conn)
    queue.enqueue(rq_jobs.add, 2, 3)
    queue.enqueue(rq_jobs.fail)
    queue.enqueue(rq_jobs.fail, retry=Retry(max=1))
    queue.enqueue(rq_jobs.sleepy, 3, job_timeout=1)
    time.sleep(0.05)  # a measurable queue wait
    Worker([queue], connection=redis_conn).work(burst=True, with_scheduler=False)

    found = scrape(registry)
    assert_contract(
        found,
        (
            "parapet_job_duration_seconds",
            "parapet_job_queue_wait_seconds",
            "parapet_job_last_success_timestamp_seconds",
        ),
    )
    got = {(s["task"], s["outcome"]): total(found, JOB_COUNT, **s) for s in series(found, JOB_COUNT)}
    assert got == {
        ("tests.metrics.rq_jobs.add", "success"): 1,
        ("tests.metrics.rq_jobs.fail", "failure"): 2,
        ("tests.metrics.rq_jobs.fail", "retry"): 1,
        ("tests.metrics.rq_jobs.sleepy", "timeout"): 1,
    }
    assert {(s["framework"], s["queue"]) for s in series(found, JOB_COUNT)} == {("rq", "emails")}
    assert total(found, "parapet_job_queue_wait_seconds_count", framework="rq", queue="emails") == 5
    assert total(found, "parapet_job_queue_wait_seconds_sum") >= 0.05
    assert total(found, "parapet_job_last_success_timestamp_seconds", task="tests.metrics.rq_jobs.add") > 0
