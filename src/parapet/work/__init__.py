"""The durable work engine: jobs in the store, no broker, no beat, the same on SQLite and PostgreSQL.

    from parapet.work import enqueue, cancel, handler, periodic, Job, JobContext, Retry, LeaseLost, Worker

jobs      the outbox side: ``enqueue(conn, kind, key, due_at=…)`` in the caller's transaction (unique on
          (kind, key): a second enqueue is a no-op, or replaces a pending job's due time and payload), ``cancel``;
          ``@handler(kind)`` and ``@periodic(name, every=…)`` registries; dead letters (``dead_jobs``, ``revive``)
worker    the poller every process runs (``parapet serve``'s lifespan, ``parapet worker``): claims due jobs
          (SKIP LOCKED on PostgreSQL, a conditional UPDATE … RETURNING on SQLite), runs handlers in threads,
          completes them fenced on (lease holder, attempt), takes over jobs whose lease expired
registry  the modules that define handlers, imported by every worker

Exactly once: a handler's database writes and ``ctx.complete(conn)`` commit in one transaction, and the
completion only matches while this attempt holds the job; an attempt whose lease was taken over rolls back
(``LeaseLost``). Anything a handler does outside that transaction (an HTTP call) is at least once: after a
crash the next attempt does it again, so it carries a stable key. See docs/work-engine.md.
"""

from __future__ import annotations

from parapet.work.jobs import (
    DeadJob,
    Job,
    LeaseLost,
    Retry,
    cancel,
    count_jobs,
    dead_jobs,
    enqueue,
    exponential,
    handler,
    periodic,
    redact,
    register_redactor,
    revive,
)
from parapet.work.worker import JobContext, Outcome, Worker, running_in_background

__all__ = [
    "DeadJob",
    "Job",
    "JobContext",
    "LeaseLost",
    "Outcome",
    "Retry",
    "Worker",
    "cancel",
    "count_jobs",
    "dead_jobs",
    "enqueue",
    "exponential",
    "handler",
    "periodic",
    "redact",
    "register_redactor",
    "revive",
    "running_in_background",
]
