"""RQ: the ``parapet_job_*`` family from a worker class.

    rq worker -w parapet.metrics.rq.ParapetWorker          # or ParapetSimpleWorker, or mix
                                                           # ParapetWorkerMixin into your own worker class

Each job records its duration by outcome (success, failure, retry when RQ re-enqueues it, timeout when
its job timeout killed it, revoked when it was stopped or cancelled), the time it waited in its queue
(``started_at - enqueued_at``, both set by RQ), and its last success time.

RQ's forking ``Worker`` runs each job in a work horse process, so its metrics reach a scrape only in
prometheus_client multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set for the worker); ``SimpleWorker``
runs jobs in the worker process itself.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from prometheus_client import CollectorRegistry
from rq import SimpleWorker, Worker
from rq.job import Job, JobStatus

from parapet.metrics.jobs import record_job

_TIMEOUT_MARK = "JobTimeoutException"


class ParapetWorkerMixin:
    """Times ``perform_job`` and reads the job's final status."""

    parapet_registry: ClassVar[CollectorRegistry | None] = None
    _parapet_timed_out: set[str]

    def perform_job(self, job: Job, queue: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return super().perform_job(job, queue, *args, **kwargs)  # type: ignore[misc]
        finally:
            self._parapet_record(job, queue, time.perf_counter() - start)

    def handle_job_failure(self, job: Job, queue: Any, *args: Any, **kwargs: Any) -> Any:
        exc_string = kwargs.get("exc_string", args[1] if len(args) > 1 else "")
        if isinstance(exc_string, str) and _TIMEOUT_MARK in exc_string:
            if not hasattr(self, "_parapet_timed_out"):
                self._parapet_timed_out = set()
            self._parapet_timed_out.add(job.id)
        return super().handle_job_failure(job, queue, *args, **kwargs)  # type: ignore[misc]

    def _parapet_record(self, job: Job, queue: Any, seconds: float) -> None:
        timed_out: set[str] = getattr(self, "_parapet_timed_out", set())
        status = job.get_status(refresh=True)
        if job.id in timed_out:
            timed_out.discard(job.id)
            outcome = "timeout"
        elif status == JobStatus.FINISHED:
            outcome = "success"
        elif status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
            outcome = "retry"
        elif status in (JobStatus.STOPPED, JobStatus.CANCELED):
            outcome = "revoked"
        else:
            outcome = "failure"
        wait = None
        if job.enqueued_at is not None and job.started_at is not None:
            wait = (job.started_at - job.enqueued_at).total_seconds()
        record_job(
            "rq",
            job.func_name or "",
            str(getattr(queue, "name", job.origin)),
            outcome,
            seconds,
            queue_wait=wait,
            registry=self.parapet_registry,
        )


class ParapetWorker(ParapetWorkerMixin, Worker):
    """RQ's forking worker with Parapet's job metrics."""


class ParapetSimpleWorker(ParapetWorkerMixin, SimpleWorker):
    """RQ's in-process worker with Parapet's job metrics."""
