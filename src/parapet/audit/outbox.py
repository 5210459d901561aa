"""The audit outbox: one ``audit_sink`` job per event and sink, written in the transaction of the action.

``subscriber(settings)`` is an incident-change hook (``parapet.evidence.hooks``): for every timeline entry the
action wrote it enqueues, in the same transaction, a job per configured sink carrying the event, so an action
that commits always has its audit events queued, and one that rolls back has none. The ``audit_sink``
handler delivers one event to one sink; a sink that does not take it (down, refusing, its secret missing)
makes the job come back later (``Retry``: never counted as a failure, never dead-lettered), so nothing is
lost however long the sink is away; ``parapet doctor`` reports a backlog older than five minutes.

Delivery is at least once: a process killed after the sink took the event and before the job's completion
committed sends it again. Each event has a stable id (``Idempotency-Key`` over HTTP) for the receiver to
drop the copy.

Modes: ``dual_write`` keeps everything in Parapet's tables as well. ``sink_only`` keeps in Parapet only what
the mitigation breaker needs: once every sink has an event of a tool action, that tool audit's parameters and
error are blanked (tool, target, outcome and times stay), and a delivered job's payload is emptied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Connection

from parapet.audit import build_sink
from parapet.audit.events import AuditEvent, timeline_event_id
from parapet.audit.sinks import SinkUnavailable
from parapet.evidence import hooks
from parapet.evidence.hooks import Change
from parapet.evidence.schema import JOB_DONE, incidents, jobs, timeline_entries, tool_audits
from parapet.spec.model import AuditSettings, Spec
from parapet.work import JobContext, Retry, enqueue, handler

KIND: Final = "audit_sink"
SUBSCRIBER: Final = "audit"
SINK_ONLY: Final = "sink_only"
RETRY_AFTER: Final = timedelta(seconds=5)
MAX_RETRY_AFTER: Final = timedelta(seconds=60)
REDACTED: Final = "[kept in the audit sinks only]"
# A job that is retried for ever must still be bounded in attempts for the engine's bookkeeping.
MAX_ATTEMPTS: Final = 1_000_000


def job_key(sink: str, event_id: str) -> str:
    return f"{sink}:{event_id}"


def install(spec: Spec | None) -> None:
    """Queue ``spec``'s audit events from this process's changes on (idempotent: create_app and the worker
    both call it; without sinks the subscriber is removed)."""
    settings = spec.audit if spec is not None else AuditSettings()
    if not settings.sinks:
        hooks.unsubscribe(SUBSCRIBER)
        return
    hooks.subscribe(SUBSCRIBER, subscriber(settings))


def subscriber(settings: AuditSettings) -> Callable[[Connection, Sequence[Change]], None]:
    """The hook that queues ``settings``' sinks' events for every change; does nothing without sinks."""

    def queue_events(conn: Connection, changes: Sequence[Change]) -> None:
        if not settings.sinks:
            return
        wanted = [change for change in changes if change.entry_id is not None]
        if not wanted:
            return
        ids = sorted({change.incident_id for change in wanted})
        services = dict(conn.execute(select(incidents.c.id, incidents.c.service).where(incidents.c.id.in_(ids))).all())
        for change in wanted:
            assert change.entry_id is not None
            event = AuditEvent(
                id=timeline_event_id(change.entry_id),
                at=change.at,
                actor=change.actor,
                action=change.kind,
                service=services.get(change.incident_id),
                incident_id=change.incident_id,
                data=dict(change.data),
            )
            payload = {"sink": "", "entry_id": change.entry_id, "event": event.to_json()}
            for sink in settings.sinks:
                enqueue(
                    conn,
                    KIND,
                    job_key(sink.name, event.id),
                    due_at=change.at,
                    payload={**payload, "sink": sink.name},
                    max_attempts=MAX_ATTEMPTS,
                )

    return queue_events


def _enriched(conn: Connection, payload: Mapping[str, Any]) -> AuditEvent:
    """The queued event with what the action's transaction wrote after its timeline entry: the entry's
    message and the tool audit that reports to it (both gone if the incident was archived meanwhile: the
    queued event is then sent as queued)."""
    event = AuditEvent.from_json(payload["event"])
    entry_id = int(payload["entry_id"])
    message = conn.execute(select(timeline_entries.c.message).where(timeline_entries.c.id == entry_id)).scalar()
    audit = conn.execute(
        select(
            tool_audits.c.id,
            tool_audits.c.tool,
            tool_audits.c.action_key,
            tool_audits.c.actor,
            tool_audits.c.parameters,
            tool_audits.c.outcome,
            tool_audits.c.started_at,
            tool_audits.c.finished_at,
            tool_audits.c.error,
        ).where(tool_audits.c.timeline_entry_id == entry_id)
    ).first()
    tool_audit = None
    if audit is not None:
        tool_audit = {
            "id": audit.id,
            "tool": audit.tool,
            "action_key": audit.action_key,
            "actor": audit.actor,
            "parameters": audit.parameters,
            "outcome": audit.outcome,
            "started_at": audit.started_at.isoformat(),
            "finished_at": audit.finished_at.isoformat() if audit.finished_at else None,
            "error": audit.error,
        }
    return AuditEvent(
        id=event.id,
        at=event.at,
        actor=event.actor,
        action=event.action,
        service=event.service,
        incident_id=event.incident_id,
        message=message if message is not None else event.message,
        data=event.data,
        tool_audit=tool_audit if tool_audit is not None else event.tool_audit,
    )


def _retry_after(exc: SinkUnavailable, attempts: int) -> timedelta:
    if exc.retry_after is not None:
        return min(max(exc.retry_after, timedelta(seconds=1)), MAX_RETRY_AFTER)
    return min(RETRY_AFTER * max(1, attempts), MAX_RETRY_AFTER)


def _others_pending(conn: Connection, settings: AuditSettings, event_id: str, own_id: int) -> bool:
    """Whether another sink's job for the same event is still to be delivered."""
    keys = [job_key(sink.name, event_id) for sink in settings.sinks]
    row = conn.execute(
        select(jobs.c.id)
        .where(and_(jobs.c.kind == KIND, jobs.c.key.in_(keys), jobs.c.state != JOB_DONE, jobs.c.id != own_id))
        .limit(1)
    ).first()
    return row is not None


@handler(KIND, lease=timedelta(seconds=60))
def deliver(ctx: JobContext) -> Mapping[str, Any] | None:
    """Send one event to one sink; come back later if the sink does not take it."""
    payload = ctx.job.payload
    settings = ctx.settings.audit if ctx.settings is not None else AuditSettings()
    sink_settings = next((s for s in settings.sinks if s.name == payload["sink"]), None)
    if sink_settings is None:
        # The sink was removed from the spec: nothing to deliver to. Recorded, not silently dropped.
        return {"delivered": False, "reason": f"audit sink {payload['sink']} is no longer configured"}
    with ctx.engine.connect() as conn:
        event = _enriched(conn, payload)
    try:
        build_sink(sink_settings).send(event)
    except SinkUnavailable as exc:
        raise Retry(after=_retry_after(exc, ctx.job.attempts), reason=exc.message) from None
    with ctx.engine.begin() as conn:
        if settings.mode == SINK_ONLY:
            conn.execute(update(jobs).where(jobs.c.id == ctx.job.id).values(payload={"sink": payload["sink"]}))
            tool_audit = event.tool_audit
            if tool_audit is not None and not _others_pending(conn, settings, event.id, ctx.job.id):
                conn.execute(
                    update(tool_audits)
                    .where(tool_audits.c.id == tool_audit["id"])
                    .values(parameters={"redacted": REDACTED}, error=None if tool_audit["error"] is None else REDACTED)
                )
        ctx.complete(conn)
    return None


BACKLOG_AGE: Final = timedelta(minutes=5)


def backlog(conn: Connection, now: datetime) -> tuple[int, datetime | None]:
    """How many audit events wait for a sink longer than ``BACKLOG_AGE``, and since when the oldest does."""
    from sqlalchemy import func

    row = conn.execute(
        select(func.count(), func.min(jobs.c.created_at)).where(
            jobs.c.kind == KIND, jobs.c.state != JOB_DONE, jobs.c.created_at < now - BACKLOG_AGE
        )
    ).one()
    return int(row[0]), row[1]
