"""The notification outbox: jobs written with the change that causes them, delivered by the "notify" handler.

    install(spec)                  at start-up (create_app, the worker): remember the secrets for masking, hand
                                   the engine's job errors to ``redact``, and subscribe to the incident hooks
    enqueue_notification(conn, …)  one notification of one target, in the caller's transaction (the hooks
                                   subscriber, and the escalation tiers for their targets)
    deliver (job kind "notify")    read the incident as it is now, deliver, then in ONE transaction: the timeline
                                   entry ("notified"), the target's parapet_notifier_messages row, the job done

Which changes notify whom: every target with ``announce: true``, and every target that already announced the
incident (it has a row), hear of its state changes (opened, acknowledged, resolved, reopened); a target that
updates one message in place (Slack, ``coalesce``) also hears of its alerts joining and resolving. Escalation
tiers enqueue their own notifications (event "escalated", with the tier and the epoch).

Keys. A coalescing target has at most one pending job per incident: ``{target}:{incident}:slot{n}``, where n is
the row's ``seq``; a change replaces the pending job's payload and due time (never earlier than the last send
plus ``min_interval``), and when job n already runs or ran, n is bumped under the row's lock and a new job is
written. The handler checks the spacing again (the Retry path), so a burst of changes is one update every
2 s at most. Other targets get one job per change, ``{target}:{incident}:{seq}``, seq the timeline entry (the
escalation steps write theirs the same way, with their entry).

One delivery at a time per (coalescing target, incident): the handler claims the row (``busy_until``, 60 s,
released in the transaction that records the outcome) and a job finding it claimed retries 2 s later. So an
escalation's job and the announcement's job of a new incident never both post a first Slack message. Other
kinds send one independent message per job (each with its own dedup key) and are not serialised.

Failures: a delivery that raises writes a "notify_failed" entry (redacted) in its own transaction and fails
the job (retried with backoff, then dead); ``Retry`` (a rate limit) writes nothing and reschedules. A paging
notification (one carrying an escalation epoch) is dropped when the epoch moved on or the incident is no
longer open: nothing pages after an acknowledgement.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from parapet.evidence import hooks
from parapet.evidence.schema import STATE_OPEN, escalations, notifier_messages
from parapet.evidence.store import IncidentNotFound, Store
from parapet.notify import registry
from parapet.notify.base import BaseNotifier, Notification, NotifierError, Previous, UnknownNotifierKind
from parapet.notify.secrets import redact, redact_data, remember_configured
from parapet.spec.model import NotifierSettings, Spec
from parapet.work import JobContext, Retry, enqueue, handler, register_redactor

log = logging.getLogger("parapet.notify")

KIND: Final = "notify"
SUBSCRIBER: Final = "notify"
ACTOR: Final = "system:parapet:notify"
NOTIFIED: Final = "notified"
FAILED: Final = "notify_failed"
# timeline kind -> the event announced
STATE_EVENTS: Final[Mapping[str, str]] = {
    "opened": "opened",
    "acknowledged": "acknowledged",
    "resolved": "resolved",
    "reopened": "reopened",
}
UPDATE_KINDS: Final = frozenset({"instance_added", "instance_resolved"})
MAX_DETAIL: Final = 500
BUSY_FOR: Final = timedelta(seconds=60)  # a delivery's claim on its (target, incident): longer than any send
BUSY_RETRY: Final = timedelta(seconds=2)


def install(spec: Spec | None) -> None:
    """Wire the notifiers of ``spec`` into this process (idempotent: a second call replaces the first)."""
    register_redactor("notify", redact)
    remember_configured(spec)
    targets = _usable(spec)
    if not targets:
        hooks.unsubscribe(SUBSCRIBER)
        return
    hooks.subscribe(SUBSCRIBER, _Subscriber(targets))


def _usable(spec: Spec | None) -> tuple[NotifierSettings, ...]:
    """The targets whose kind has a module here; the others are logged once (parapet doctor names them too)."""
    out = []
    for target in spec.notifiers if spec is not None else ():
        try:
            registry.notifier_class(target.kind)
        except UnknownNotifierKind as exc:
            log.warning("notifier %s is not delivered: %s", target.name, exc.message)
            continue
        out.append(target)
    return tuple(out)


@dataclass(frozen=True)
class _Subscriber:
    targets: tuple[NotifierSettings, ...]

    def __call__(self, conn: Connection, changes: Sequence[hooks.Change]) -> None:
        relevant = [c for c in changes if c.kind in STATE_EVENTS or c.kind in UPDATE_KINDS]
        if not relevant:
            return
        incident_ids = sorted({c.incident_id for c in relevant})
        announced = {
            (row.incident_id, row.target)
            for row in conn.execute(
                select(notifier_messages.c.incident_id, notifier_messages.c.target).where(
                    notifier_messages.c.incident_id.in_(incident_ids)
                )
            )
        }
        by_incident: dict[int, list[hooks.Change]] = {}
        for change in relevant:
            by_incident.setdefault(change.incident_id, []).append(change)
        for incident_id, items in by_incident.items():
            states = [c for c in items if c.kind in STATE_EVENTS]
            for target in self.targets:
                if not (target.announce or (incident_id, target.name) in announced):
                    continue
                if registry.notifier_class(target.kind).coalesce:
                    # one job shows the state as it is when it runs: the batch's last state change names it
                    self._enqueue(conn, target, (states or items)[-1])
                else:
                    for change in states:  # a card or mail per alert would drown the channel
                        self._enqueue(conn, target, change)

    @staticmethod
    def _enqueue(conn: Connection, target: NotifierSettings, change: hooks.Change) -> None:
        enqueue_notification(
            conn,
            target,
            change.incident_id,
            STATE_EVENTS.get(change.kind, "updated"),
            seq=change.entry_id if change.entry_id is not None else change.at.isoformat(),
            actor=change.actor,
            at=change.at,
        )


def enqueue_notification(
    conn: Connection,
    target: NotifierSettings,
    incident_id: int,
    event: str,
    *,
    seq: object,
    at: datetime,
    actor: str | None = None,
    tier: int | None = None,
    epoch: int | None = None,
) -> bool:
    """Write one notification of ``target`` about ``incident_id`` in the caller's transaction. ``seq`` makes the
    key of a non-coalescing target (a timeline entry id; escalation: its step). True when a job was written."""
    cls = registry.notifier_class(target.kind)
    payload: dict[str, Any] = {"target": target.name, "incident_id": incident_id, "event": event, "actor": actor}
    if tier is not None:
        payload["tier"] = tier
    if epoch is not None:
        payload["epoch"] = epoch
    if not cls.coalesce:
        return enqueue(conn, KIND, f"{target.name}:{incident_id}:{seq}", due_at=at, payload=payload, now=at)
    seq_now, last_sent = _slot(conn, incident_id, target, at)
    due = max(at, last_sent + cls.min_interval) if last_sent is not None else at
    key = _slot_key(target.name, incident_id, seq_now)
    if enqueue(conn, KIND, key, due_at=due, payload=payload, replace=True, now=at):
        return True
    # job seq_now runs or ran: the next one gets the next number
    conn.execute(
        update(notifier_messages)
        .where(notifier_messages.c.incident_id == incident_id, notifier_messages.c.target == target.name)
        .values(seq=seq_now + 1)
    )
    return enqueue(conn, KIND, _slot_key(target.name, incident_id, seq_now + 1), due_at=due, payload=payload, now=at)


def _slot_key(target: str, incident_id: int, seq: int) -> str:
    return f"{target}:{incident_id}:slot{seq}"  # never one of the per-change keys (target:incident:entry id)


def _slot(conn: Connection, incident_id: int, target: NotifierSettings, at: datetime) -> tuple[int, datetime | None]:
    """The target's row for the incident (created when missing), locked until the caller commits: (seq, when it
    last sent)."""
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(notifier_messages)
    conn.execute(
        insert.values(
            incident_id=incident_id, target=target.name, kind=target.kind, seq=0, sends=0, updated_at=at
        ).on_conflict_do_nothing(index_elements=[notifier_messages.c.incident_id, notifier_messages.c.target])
    )
    row = conn.execute(
        select(notifier_messages.c.seq, notifier_messages.c.last_sent_at)
        .where(notifier_messages.c.incident_id == incident_id, notifier_messages.c.target == target.name)
        .with_for_update()
    ).one()
    return int(row.seq), row.last_sent_at


def _previous(conn: Connection, incident_id: int, target: str) -> Previous | None:
    row = conn.execute(
        select(notifier_messages).where(
            notifier_messages.c.incident_id == incident_id, notifier_messages.c.target == target
        )
    ).first()
    if row is None or row.last_sent_at is None:
        return None
    return Previous(row.external_id, row.digest, row.last_sent_at, int(row.sends))


def incident_url(spec: Spec | None, incident_id: int) -> str:
    """The incident's page for people reading a notification, when the spec gives the UI's address."""
    base = spec.ui.url if spec is not None else None
    return f"{base.rstrip('/')}/incidents/{incident_id}" if base else ""


@handler(KIND)
def deliver(ctx: JobContext) -> Mapping[str, Any] | None:
    """Deliver one notification (see the module docstring); its writes commit with the job's completion."""
    payload = ctx.job.payload
    spec = ctx.settings if isinstance(ctx.settings, Spec) else None
    name, incident_id = str(payload.get("target")), int(payload.get("incident_id", 0))
    if spec is None:
        raise NotifierError(
            f"this process has no spec, so it cannot deliver notifier {name}",
            hint="run every Parapet process with the same parapet.yaml",
        )
    target = spec.notifier(name)
    if target is None:
        return {"skipped": "the target is no longer in the spec"}
    store = Store(ctx.engine, clock=ctx.clock)
    try:
        incident = store.get(incident_id)
    except IncidentNotFound:
        return {"skipped": "the incident is gone (archived)"}
    event, epoch = str(payload.get("event", "updated")), payload.get("epoch")
    if epoch is not None and not _still_paging(ctx, incident_id, int(epoch), incident.state):
        return {"skipped": "acknowledged, resolved or re-escalated since"}
    try:
        notifier = registry.build(target)
    except NotifierError as exc:  # a secret that cannot be read: a failure like any other, on the timeline
        with ctx.engine.begin() as conn:
            _entry(conn, target, incident_id, FAILED, ctx.now(), f"{name}: {exc.message}", event, "failed", None)
        raise
    now = ctx.now()
    holder = f"{ctx.worker_id}:{ctx.job.id}:{ctx.job.attempts}"[:255]
    with ctx.engine.begin() as conn:
        # one message updated in place: one delivery at a time (two first deliveries would both post)
        if notifier.coalesce and not _claim(conn, incident_id, target, holder, now):
            raise Retry(after=BUSY_RETRY, reason=f"a delivery to {name} for this incident is under way")
        previous = _previous(conn, incident_id, name)
    if notifier.coalesce and previous is not None and previous.sent_at + notifier.min_interval > now:
        _release_now(ctx, incident_id, name, holder)
        raise Retry(after=previous.sent_at + notifier.min_interval - now, reason="at most one update per interval")
    tier = payload.get("tier")
    message = Notification(
        incident=incident,
        event=event,
        target=name,
        tier=int(tier) if tier is not None else None,
        url=incident_url(spec, incident_id),
        actor=str(payload["actor"]) if payload.get("actor") else None,
        alerts=tuple(store.alert_instances(incident_id)),
        previous=previous,
        key=ctx.job.key,
    )
    try:
        delivery = notifier.deliver(message)
    except Retry:
        _release_now(ctx, incident_id, name, holder)
        raise
    except Exception as exc:
        detail = redact(exc.message if isinstance(exc, NotifierError) else f"{type(exc).__name__}: {exc}")[:MAX_DETAIL]
        with ctx.engine.begin() as conn:
            _release(conn, incident_id, name, holder)
            _entry(conn, notifier, incident_id, FAILED, ctx.now(), f"{name}: {detail}", event, "failed", None)
        raise NotifierError(f"notifier {name} failed: {detail}") from None
    with ctx.engine.begin() as conn:
        _release(conn, incident_id, name, holder)
        if delivery.outcome != "unchanged":
            _sent(conn, incident_id, notifier, delivery.external_id, delivery.digest, now)
            text = f"{name} ({notifier.kind}): {delivery.outcome}" + (f", {delivery.detail}" if delivery.detail else "")
            _entry(conn, notifier, incident_id, NOTIFIED, now, text, event, delivery.outcome, delivery.external_id)
        ctx.complete(conn, {"outcome": delivery.outcome, "external_id": delivery.external_id})
    return None


def _claim(conn: Connection, incident_id: int, target: NotifierSettings, holder: str, now: datetime) -> bool:
    """Take the (target, incident) row for this delivery, unless another one holds it (and has not expired)."""
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(notifier_messages)
    conn.execute(
        insert.values(
            incident_id=incident_id, target=target.name, kind=target.kind, seq=0, sends=0, updated_at=now
        ).on_conflict_do_nothing(index_elements=[notifier_messages.c.incident_id, notifier_messages.c.target])
    )
    taken = conn.execute(
        update(notifier_messages)
        .where(
            notifier_messages.c.incident_id == incident_id,
            notifier_messages.c.target == target.name,
            or_(notifier_messages.c.busy_until.is_(None), notifier_messages.c.busy_until < now),
        )
        .values(busy_until=now + BUSY_FOR, busy_by=holder)
        .returning(notifier_messages.c.id)
    ).first()
    return taken is not None


def _release(conn: Connection, incident_id: int, target: str, holder: str) -> None:
    conn.execute(
        update(notifier_messages)
        .where(
            notifier_messages.c.incident_id == incident_id,
            notifier_messages.c.target == target,
            notifier_messages.c.busy_by == holder,
        )
        .values(busy_until=None, busy_by=None)
    )


def _release_now(ctx: JobContext, incident_id: int, target: str, holder: str) -> None:
    with ctx.engine.begin() as conn:
        _release(conn, incident_id, target, holder)


def _still_paging(ctx: JobContext, incident_id: int, epoch: int, state: str) -> bool:
    if state != STATE_OPEN:
        return False
    with ctx.engine.connect() as conn:
        current = conn.execute(select(escalations.c.epoch).where(escalations.c.incident_id == incident_id)).scalar()
    return current is None or int(current) == epoch


def _sent(
    conn: Connection,
    incident_id: int,
    notifier: BaseNotifier,
    external_id: str | None,
    digest: str | None,
    at: datetime,
) -> None:
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(notifier_messages)
    values = {"external_id": external_id, "digest": digest, "last_sent_at": at, "updated_at": at}
    stmt = insert.values(
        incident_id=incident_id,
        target=notifier.target,
        kind=notifier.kind,
        seq=0,
        sends=1,
        first_sent_at=at,
        **values,
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[notifier_messages.c.incident_id, notifier_messages.c.target],
            set_={
                **values,
                "sends": notifier_messages.c.sends + 1,
                "first_sent_at": func.coalesce(notifier_messages.c.first_sent_at, at),
            },
        )
    )


def _entry(
    conn: Connection,
    notifier: BaseNotifier | NotifierSettings,
    incident_id: int,
    kind: str,
    at: datetime,
    message: str,
    event: str,
    outcome: str,
    external_id: str | None,
) -> None:
    target = notifier.name if isinstance(notifier, NotifierSettings) else notifier.target
    data = {
        "notifier": notifier.kind,
        "target": target,
        "kind": notifier.kind,
        "event": event,
        "outcome": outcome,
        "external_id": external_id,
    }
    hooks.write_entries(
        conn,
        [
            {
                "incident_id": incident_id,
                "kind": kind,
                "actor": ACTOR,
                "at": at,
                "message": redact(message),
                "data": redact_data(data),
            }
        ],
    )


__all__ = ["FAILED", "KIND", "NOTIFIED", "deliver", "enqueue_notification", "incident_url", "install"]
