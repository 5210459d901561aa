"""The ``parapet_job_*`` family: what every job-queue integration records, and a cron decorator.

    @cron_job("nightly-report")
    def main() -> None: ...

A job records its duration by outcome, its queue wait when the framework knows when it was enqueued, and
on success the time of its last success (the freshness SLI: ``time() - max by (task) (...)``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from types import TracebackType
from typing import ParamSpec, TypeVar

from prometheus_client import CollectorRegistry

from parapet.metrics.contract import contract
from parapet.metrics.exemplars import trace_exemplar

P = ParamSpec("P")
R = TypeVar("R")


def record_job(
    framework: str,
    task: str,
    queue: str,
    outcome: str,
    seconds: float,
    *,
    queue_wait: float | None = None,
    finished_at: float | None = None,
    registry: CollectorRegistry | None = None,
) -> None:
    """Record one finished job run; ``queue_wait`` in seconds when known."""
    families = contract(registry)
    families.job_duration.child((framework, task, queue, outcome)).observe(max(seconds, 0.0), trace_exemplar())
    if queue_wait is not None:
        record_queue_wait(framework, queue, queue_wait, registry=registry)
    if outcome == "success":
        families.job_last_success.child((framework, task)).set(finished_at if finished_at is not None else time.time())


def record_queue_wait(framework: str, queue: str, seconds: float, *, registry: CollectorRegistry | None = None) -> None:
    contract(registry).job_queue_wait.child((framework, queue)).observe(max(seconds, 0.0))


class CronJob:
    """Times one run of a plain script: success, or failure if the block raises (re-raised)."""

    def __init__(self, task: str, *, queue: str = "", registry: CollectorRegistry | None = None) -> None:
        self.task = task
        self.queue = queue
        self.registry = registry
        self._start = 0.0
        self.outcome: str | None = None

    def skip(self) -> None:
        """Mark the run as skipped (nothing to do, or another instance holds the lock)."""
        self.outcome = "skipped"

    def __enter__(self) -> CronJob:
        self._start = time.perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        seconds = time.perf_counter() - self._start
        if exc_type is not None:
            outcome = "timeout" if issubclass(exc_type, TimeoutError) else "failure"
        else:
            outcome = self.outcome or "success"
        self.outcome = outcome
        record_job("cron", self.task, self.queue, outcome, seconds, registry=self.registry)

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with CronJob(self.task, queue=self.queue, registry=self.registry):
                return fn(*args, **kwargs)

        return wrapper


def cron_job(task: str, *, queue: str = "", registry: CollectorRegistry | None = None) -> CronJob:
    """Decorator or context manager recording a cron script's run as framework ``cron``."""
    return CronJob(task, queue=queue, registry=registry)
