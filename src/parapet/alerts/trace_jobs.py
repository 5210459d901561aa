"""The ``trace_lookup`` job and the hooks subscriber that enqueues it (see ``parapet.alerts.traces``).

``install(spec)`` (``parapet.work.registry.install_subscribers``: ``create_app`` and every worker) subscribes to
incident changes when the spec sets ``prometheus.url``: an "opened" change enqueues ``trace_lookup``/``<incident
id>`` in the transaction that opened the incident. The handler asks Prometheus for exemplars and writes the trace
id with the job's completion, in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from parapet.alerts.traces import (
    GIVE_UP_AFTER,
    RETRY_EVERY,
    SUBSCRIBER,
    TRACE_JOB,
    alert_started,
    find_trace_id,
    set_trace_id,
    slo_named,
)
from parapet.evidence import hooks
from parapet.evidence.schema import incidents
from parapet.spec.model import Spec
from parapet.work import JobContext, Retry, enqueue, handler


def install(spec: Spec | None) -> bool:
    """Subscribe the lookup to incident openings when the spec names a Prometheus; True if it did."""
    if spec is None or spec.prometheus.url is None:
        hooks.unsubscribe(SUBSCRIBER)
        return False
    hooks.subscribe(SUBSCRIBER, _on_changes)
    return True


def _on_changes(conn: Connection, changes: Sequence[hooks.Change]) -> None:
    for change in changes:
        if change.kind == "opened":
            enqueue(conn, TRACE_JOB, str(change.incident_id), due_at=change.at)


@handler(TRACE_JOB)
def lookup(ctx: JobContext) -> Mapping[str, Any] | None:
    spec: Spec | None = ctx.settings
    url = spec.prometheus.url if spec is not None else None
    incident_id = int(ctx.job.key)
    with ctx.engine.connect() as conn:
        row = conn.execute(
            select(incidents.c.slo, incidents.c.trace_id, incidents.c.opened_at).where(incidents.c.id == incident_id)
        ).first()
        if row is None:
            return {"skipped": "the incident is gone"}
        started = alert_started(conn, incident_id, row.opened_at)
    if row.trace_id:
        return {"skipped": "the alert carried a trace id", "trace_id": row.trace_id}
    slo = slo_named(spec, row.slo)
    if url is None or slo is None:
        return {"skipped": "no prometheus.url" if url is None else f"no SLO named {row.slo!r} in the spec"}
    try:
        found = find_trace_id(url, slo, started)
    except OSError as exc:  # Prometheus is down or slow: retried with the engine's backoff, then dead
        raise RuntimeError(f"Prometheus' query_exemplars failed: {exc}") from None
    if found is None:
        if ctx.now() - row.opened_at < GIVE_UP_AFTER:
            raise Retry(after=RETRY_EVERY, reason="no exemplar with a trace id yet")
        return {"found": False}
    with ctx.engine.begin() as conn:
        written = set_trace_id(conn, incident_id, found)
        ctx.complete(conn, {"found": True, "trace_id": found, "written": written})
    return None
