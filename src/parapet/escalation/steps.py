"""The job handler of an escalation step (kind "escalate"): one transaction runs the step where its
(epoch, tier, repeat) still match and completes the job, fenced by the lease (``ctx.complete``), so a step's
notifications and its job's completion commit together or not at all."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

from parapet.escalation.core import KIND, execute_step, subscribe
from parapet.work import JobContext, handler

# A step is a handful of statements (the worker renews a lease every third of it, so a slow database does
# not lose it): a process killed mid-step loses its claim this fast, and another takes the job over. A step
# cannot run twice whoever holds the lease: the escalation row fences it.
STEP_LEASE: Final = timedelta(seconds=2)


@handler(KIND, lease=STEP_LEASE)
def run_step(ctx: JobContext) -> Mapping[str, Any]:
    payload = ctx.job.payload
    with ctx.engine.begin() as conn:
        outcome = execute_step(
            conn,
            int(payload["incident_id"]),
            epoch=int(payload["epoch"]),
            tier=int(payload["tier"]),
            repeat=int(payload["repeat"]),
            now=ctx.now(),
        )
        ctx.complete(conn, outcome.summary())
    return outcome.summary()


subscribe()
