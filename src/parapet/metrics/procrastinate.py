"""procrastinate: the ``parapet_job_*`` family from a worker middleware.

    app = App(connector=PsycopgConnector(...))
    instrument_procrastinate(app)       # before workers start: every worker the app runs records its jobs

    app.run_worker(worker_middleware=[ParapetMiddleware()])     # or for one worker

The middleware wraps every job the worker runs, sync and async tasks alike. The outcome is success, retry
when the task's retry strategy schedules another attempt (asked as the worker asks it), revoked when the
job was aborted (``JobAborted``, or an async task cancelled), timeout when it raised ``TimeoutError``, and
failure otherwise. The queue wait runs from the moment the job became runnable (the later of its last
deferral, including a re-deferral for a retry, and its ``scheduled_at``) to its start, read from
procrastinate's event table: one indexed query per job, on the database's clock. The last success time is
set on success.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from procrastinate import App, JobContext
from procrastinate.exceptions import JobAborted
from procrastinate.job_context import AbortReason
from procrastinate.testing import InMemoryConnector
from procrastinate.worker import Worker
from prometheus_client import CollectorRegistry

from parapet.metrics.jobs import record_job, record_queue_wait

try:
    from procrastinate.middleware import AsyncCallNext
except ImportError as exc:  # pragma: no cover - depends on the installed procrastinate
    raise ImportError("parapet.metrics.procrastinate needs procrastinate>=3.10, which has worker middleware") from exc

FRAMEWORK = "procrastinate"
# Events that put a job (back) in its queue: deferred, re-deferred for a retry, retried by hand.
QUEUED_EVENTS = frozenset({"deferred", "deferred_for_retry", "retried"})
_TIMES_QUERY = """
SELECT max(at) FILTER (WHERE type IN ('deferred', 'deferred_for_retry', 'retried')) AS queued_at,
       max(at) FILTER (WHERE type = 'started') AS started_at
  FROM procrastinate_events
 WHERE job_id = %(job_id)s
"""

logger = logging.getLogger(__name__)


class ParapetMiddleware:
    """A procrastinate worker middleware recording every job's duration by outcome, queue wait and last success.

    ``queue_wait=False`` skips the queue wait and its query.
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, queue_wait: bool = True) -> None:
        self.registry = registry
        self.queue_wait = queue_wait
        self._warned = False

    async def __call__(self, call_next: AsyncCallNext, context: JobContext, worker: Worker) -> Any:
        start = time.perf_counter()
        try:
            if self.queue_wait:
                await self._record_queue_wait(context)
                start = time.perf_counter()
            result = await call_next()
        except BaseException as exc:
            self._record(context, job_outcome(exc, context), start)
            raise
        self._record(context, "success", start)
        return result

    def _record(self, context: JobContext, outcome: str, start: float) -> None:
        job = context.job
        record_job(FRAMEWORK, job.task_name, job.queue, outcome, time.perf_counter() - start, registry=self.registry)

    async def _record_queue_wait(self, context: JobContext) -> None:
        job = context.job
        connector = context.app.connector
        try:
            if isinstance(connector, InMemoryConnector):
                queued_at, started_at = event_times(connector.events.get(job.id or 0, ()))
            else:
                row = await connector.execute_query_one_async(_TIMES_QUERY, job_id=job.id)
                queued_at, started_at = row["queued_at"], row["started_at"]
        except Exception as exc:
            # procrastinate wraps database errors in a ConnectorException; the driver's first line says why
            reason = (str(exc.__cause__ or exc).strip().splitlines() or [type(exc).__name__])[0]
            level = logging.DEBUG if self._warned else logging.WARNING
            self._warned = True
            logger.log(level, "parapet: no queue wait for procrastinate jobs, their events are unreadable: %s", reason)
            return
        ready = [t for t in (queued_at, job.scheduled_at) if t is not None]
        if not ready:
            return
        started = started_at or datetime.datetime.fromtimestamp(context.start_timestamp, datetime.UTC)
        wait = (started - max(ready)).total_seconds()
        record_queue_wait(FRAMEWORK, job.queue, wait, registry=self.registry)


def event_times(
    events: Iterable[Mapping[str, Any]],
) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    """When the job last entered its queue and when its current run started, from its events."""
    queued = [e["at"] for e in events if e["type"] in QUEUED_EVENTS]
    started = [e["at"] for e in events if e["type"] == "started"]
    return max(queued, default=None), max(started, default=None)


def job_outcome(exc: BaseException, context: JobContext) -> str:
    """The outcome of a run that raised ``exc``, decided as procrastinate's worker decides the job's status."""
    if not isinstance(exc, JobAborted) or context.abort_reason() is AbortReason.SHUTDOWN:
        task = context.app.tasks.get(context.job.task_name)
        try:
            retry = task.get_retry_exception(exception=exc, job=context.job) if task is not None else None
        except Exception:  # a broken retry strategy: the worker meets it too; never replace the job's exception
            retry = None
        if retry is not None:
            return "retry"
    if isinstance(exc, JobAborted | asyncio.CancelledError):
        return "revoked"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "failure"


def instrument_procrastinate(
    app: App, *, registry: CollectorRegistry | None = None, queue_wait: bool = True
) -> ParapetMiddleware:
    """Put a ``ParapetMiddleware`` first in ``app``'s default worker middleware; returns it.

    A worker started with its own ``worker_middleware=[...]`` replaces the app's list: add the middleware
    there instead.
    """
    existing = list(app.worker_defaults.get("worker_middleware") or [])
    if any(isinstance(mw, ParapetMiddleware) for mw in existing):
        raise ValueError("this procrastinate app is already instrumented (its worker middleware has ParapetMiddleware)")
    middleware = ParapetMiddleware(registry, queue_wait=queue_wait)
    app.worker_defaults["worker_middleware"] = [middleware, *existing]
    return middleware
