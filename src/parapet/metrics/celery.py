"""Celery: the ``parapet_job_*`` family from Celery's signals, in the worker and the producer.

    app = Celery("shop")
    instrument_celery(app)        # import this where both the web app and the worker load the Celery app

The producer stamps the enqueue time into the message headers (``before_task_publish``), so the worker
can record the queue wait when the task starts. The outcome comes from the task's final state: SUCCESS,
FAILURE, RETRY, REVOKED, REJECTED and IGNORED map to success, failure, retry, revoked, rejected and
skipped. In a prefork worker every pool child records into the multiprocess directory.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from celery import Celery, signals  # type: ignore[import-untyped]
from prometheus_client import CollectorRegistry

from parapet.metrics.jobs import record_job, record_queue_wait

ENQUEUED_HEADER = "parapet_enqueued_at"
_OUTCOMES = {
    "SUCCESS": "success",
    "FAILURE": "failure",
    "RETRY": "retry",
    "REVOKED": "revoked",
    "REJECTED": "rejected",
    "IGNORED": "skipped",
}


class CeleryInstrumentation:
    """Signal receivers for one Celery app; ``remove()`` disconnects them."""

    def __init__(self, app: Celery, registry: CollectorRegistry | None) -> None:
        self.app = app
        self.registry = registry
        self._starts: dict[str, float] = {}
        self._lock = threading.Lock()
        signals.before_task_publish.connect(self._published, weak=False)
        signals.task_prerun.connect(self._prerun, weak=False)
        signals.task_postrun.connect(self._postrun, weak=False)
        signals.task_revoked.connect(self._revoked, weak=False)

    def remove(self) -> None:
        signals.before_task_publish.disconnect(self._published)
        signals.task_prerun.disconnect(self._prerun)
        signals.task_postrun.disconnect(self._postrun)
        signals.task_revoked.disconnect(self._revoked)

    def _ours(self, task: Any) -> bool:
        return getattr(task, "app", None) is self.app

    def _published(self, sender: Any = None, headers: dict[str, Any] | None = None, **_: Any) -> None:
        if headers is not None and sender in self.app.tasks:
            headers.setdefault(ENQUEUED_HEADER, time.time())

    def _prerun(self, task_id: str = "", task: Any = None, **_: Any) -> None:
        if not self._ours(task):
            return
        with self._lock:
            self._starts[task_id] = time.perf_counter()
        enqueued = getattr(task.request, ENQUEUED_HEADER, None)
        if isinstance(enqueued, int | float):
            record_queue_wait("celery", _queue(task.request), time.time() - enqueued, registry=self.registry)

    def _postrun(self, task_id: str = "", task: Any = None, state: str | None = None, **_: Any) -> None:
        if not self._ours(task):
            return
        with self._lock:
            start = self._starts.pop(task_id, None)
        if start is None:
            return
        outcome = _OUTCOMES.get(state or "", "failure")
        record_job(
            "celery", task.name, _queue(task.request), outcome, time.perf_counter() - start, registry=self.registry
        )

    def _revoked(self, request: Any = None, expired: bool = False, **_: Any) -> None:
        task = getattr(request, "task", None)
        if request is None or task is None or not self._ours(task):
            return
        with self._lock:
            start = self._starts.pop(getattr(request, "id", ""), None)
        seconds = time.perf_counter() - start if start is not None else 0.0
        record_job(
            "celery", task.name, _queue(request), "timeout" if expired else "revoked", seconds, registry=self.registry
        )


def _queue(request: Any) -> str:
    info = getattr(request, "delivery_info", None) or {}
    queue = info.get("routing_key") or info.get("queue") or ""
    return str(queue)


def instrument_celery(app: Celery, *, registry: CollectorRegistry | None = None) -> CeleryInstrumentation:
    """Record every task of ``app``: duration by outcome, queue wait, last success."""
    return CeleryInstrumentation(app, registry)
