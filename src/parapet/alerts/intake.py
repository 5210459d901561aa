"""One Alertmanager delivery, applied to the store in one transaction.

Per alert, an occurrence is (fingerprint, startsAt), one row of ``parapet_alert_instances``:

    new, firing          joins the active incident with its correlation key (timeline "instance_added",
                         "severity_raised" when it is more severe), or opens one ("opened"); when the same
                         fingerprint had an earlier incident that is resolved, the new one links to it (a re-fire)
    known, firing        a repeat: only ``occurrence_count`` and ``last_seen_at`` move (instance and incident),
                         no timeline entry, no version bump (an operator's open form stays valid)
    known, resolved      the instance resolves ("instance_resolved"); when no instance of the incident fires
                         any more, the incident resolves as ``system:alertmanager`` ("resolved")
    already resolved     a late retry: nothing changes
    unknown, resolved    nothing changes (counted in the delivery's outcome)
    older than known     a late retry of an earlier occurrence of a fingerprint seen again since: nothing changes

The delivery itself (payload and outcome) is written to ``parapet_webhook_deliveries`` in the same
transaction, so 200 means "committed, and on record". Two deliveries racing on the same alert (two
Alertmanagers, a retry) meet a unique constraint; the loser's transaction is retried and then sees the
winner's rows. On SQLite the transaction starts with BEGIN IMMEDIATE, so its reads and writes are one
serial step.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from parapet.alerts.correlation import Correlator
from parapet.alerts.payload import AlertIn, Delivery
from parapet.alerts.traces import trace_id_from
from parapet.evidence.hooks import write_entries
from parapet.evidence.schema import (
    INSTANCE_FIRING,
    INSTANCE_RESOLVED,
    STATE_OPEN,
    STATE_RESOLVED,
    UTCDateTime,
    alert_instances,
    incident_links,
    incidents,
    webhook_deliveries,
)
from parapet.evidence.store import EvidenceError, Store, severity_rank

SYSTEM_ALERTMANAGER: Final = "system:alertmanager"
MAX_LISTED: Final = 50  # fingerprints listed in one timeline entry's data
ATTEMPTS: Final = 5
_RETRYABLE_SQLSTATES: Final = frozenset({"40001", "40P01"})  # serialization failure, deadlock


@dataclass
class IngestResult:
    delivery_id: int = 0
    alerts: int = 0
    opened: list[int] = field(default_factory=list)
    added: int = 0
    repeated: int = 0
    resolved_instances: int = 0
    resolved_incidents: list[int] = field(default_factory=list)
    late: int = 0  # a retry of an occurrence already resolved, or older than one seen since
    unknown_resolved: int = 0
    attempts: int = 1

    def summary(self) -> dict[str, Any]:
        return {
            "alerts": self.alerts,
            "opened": list(self.opened),
            "added": self.added,
            "repeated": self.repeated,
            "resolved_instances": self.resolved_instances,
            "resolved_incidents": list(self.resolved_incidents),
            "late": self.late,
            "unknown_resolved": self.unknown_resolved,
            "attempts": self.attempts,
        }


def ingest(store: Store, delivery: Delivery, correlator: Correlator) -> IngestResult:
    """Apply a delivery; raises the database's error when it is unavailable (the webhook answers 503)."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            result = _ingest_once(store, delivery, correlator)
            result.attempts = attempt
            return result
        except IntegrityError:
            if attempt == ATTEMPTS:
                raise
        except DBAPIError as exc:
            if attempt == ATTEMPTS or _sqlstate(exc) not in _RETRYABLE_SQLSTATES:
                raise
        time.sleep(0.005 * attempt)
    raise AssertionError("unreachable")


class DeliveryNotFound(EvidenceError):
    """No delivery with that id in the delivery log (never logged, or pruned)."""


def replay(store: Store, delivery_id: int, correlator: Correlator) -> IngestResult:
    """Apply a logged delivery again (after a correlation rule changed, or into a restored store); being the
    same deliveries, the occurrences already applied change nothing. The replay is logged as a delivery too."""
    from parapet.alerts.payload import parse_payload

    with store.engine.connect() as conn:
        raw = conn.execute(select(webhook_deliveries.c.payload).where(webhook_deliveries.c.id == delivery_id)).scalar()
    if raw is None:
        raise DeliveryNotFound(
            f"webhook delivery {delivery_id} is not in the delivery log",
            hint="parapet archive prunes the log after retention.system_events",
        )
    return ingest(store, parse_payload(raw), correlator)


def _sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


# Built once: a statement object reused keeps its compiled form and cache key (most of a delivery's Python time
# otherwise goes to building and keying statements).
_NOW = bindparam("b_now", type_=UTCDateTime())
_KNOWN = (
    select(
        alert_instances.c.fingerprint,
        alert_instances.c.id,
        alert_instances.c.incident_id,
        alert_instances.c.starts_at,
        alert_instances.c.status,
        incidents.c.state,
    )
    .join(incidents, incidents.c.id == alert_instances.c.incident_id)
    .where(alert_instances.c.fingerprint.in_(bindparam("b_fps", expanding=True)))
)
_ACTIVE = select(incidents.c.id, incidents.c.correlation_key, incidents.c.severity_rank).where(
    incidents.c.correlation_key.in_(bindparam("b_keys", expanding=True)), incidents.c.state != STATE_RESOLVED
)
_RESOLVE_INSTANCE = (
    update(alert_instances)
    .where(alert_instances.c.id == bindparam("b_id"))
    .values(
        status=INSTANCE_RESOLVED,
        ends_at=bindparam("b_ends"),
        resolved_at=_NOW,
        resolved_by=SYSTEM_ALERTMANAGER,
        last_seen_at=_NOW,
        stale_at=None,
    )
)
_REPEAT = (
    update(alert_instances)
    .where(alert_instances.c.id.in_(bindparam("b_ids", expanding=True)))
    .values(last_seen_at=_NOW, occurrence_count=alert_instances.c.occurrence_count + 1, stale_at=None)
)
_TOUCH = (
    update(incidents)
    .where(incidents.c.id == bindparam("b_id"))
    .values(
        last_seen_at=_NOW,
        occurrence_count=incidents.c.occurrence_count + bindparam("b_count"),
        version=incidents.c.version + bindparam("b_version"),
        updated_at=_NOW,
    )
)
_FIRING_LEFT = (
    select(alert_instances.c.incident_id)
    .where(
        alert_instances.c.incident_id.in_(bindparam("b_ids", expanding=True)),
        alert_instances.c.status == INSTANCE_FIRING,
    )
    .distinct()
)
_RESOLVE_INCIDENTS = (
    update(incidents)
    .where(incidents.c.id.in_(bindparam("b_ids", expanding=True)), incidents.c.state != STATE_RESOLVED)
    .values(
        state=STATE_RESOLVED,
        resolved_at=_NOW,
        resolved_by=bindparam("b_actor"),
        version=incidents.c.version + 1,
        updated_at=_NOW,
    )
    .returning(incidents.c.id)
)
_INSERT_INSTANCES = insert(alert_instances)
_INSERT_DELIVERY = insert(webhook_deliveries).returning(webhook_deliveries.c.id)
_OPEN = insert(incidents).returning(incidents.c.id)


@dataclass
class _Touch:
    """What one delivery does to one incident."""

    count: int = 0  # occurrences received (firing)
    changed: bool = False
    severity: tuple[int, str] | None = None  # raised to
    added: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)


def _ingest_once(store: Store, delivery: Delivery, correlator: Correlator) -> IngestResult:
    now = store.clock()
    result = IngestResult(alerts=len(delivery.alerts))
    # One occurrence once per delivery (a resolved copy wins over a firing one).
    occurrences: dict[tuple[str, datetime], AlertIn] = {}
    for alert in delivery.alerts:
        pair = (alert.fingerprint, alert.starts_at)
        if pair not in occurrences or alert.status == "resolved":
            occurrences[pair] = alert
    ordered = [occurrences[p] for p in sorted(occurrences)]  # a fixed lock order across nodes

    with store.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        known = _known(conn, {a.fingerprint for a in ordered})
        touches: dict[int, _Touch] = defaultdict(_Touch)
        entries: list[dict[str, Any]] = []
        repeats: list[int] = []
        resolves: list[dict[str, Any]] = []
        new: list[AlertIn] = []
        for alert in ordered:
            history = known.get(alert.fingerprint, [])
            row = next((r for r in history if r.starts_at == alert.starts_at), None)
            if row is not None and row.status == INSTANCE_FIRING:
                if alert.status == "firing":
                    repeats.append(row.id)
                    touches[row.incident_id].count += 1
                else:
                    resolves.append({"b_id": row.id, "b_ends": alert.ends_at or now})
                    touch = touches[row.incident_id]
                    touch.changed = True
                    touch.resolved.append(alert.fingerprint)
            elif row is not None or any(r.starts_at > alert.starts_at for r in history):
                result.late += 1
            elif alert.status == "resolved":
                result.unknown_resolved += 1
            else:
                new.append(alert)

        if new:
            _place_new(conn, new, delivery.group_labels, known, correlator, touches, entries, result, now)
        if resolves:
            conn.execute(_RESOLVE_INSTANCE, [{**r, "b_now": now} for r in resolves])
            result.resolved_instances = len(resolves)
        if repeats:
            conn.execute(_REPEAT, {"b_ids": repeats, "b_now": now})
            result.repeated = len(repeats)
        if delivery.truncated_alerts:
            for touch in touches.values():
                touch.changed = True
        _apply_touches(conn, touches, entries, delivery, now)
        result.resolved_incidents = resolve_finished(conn, [i for i, t in touches.items() if t.resolved], entries, now)
        write_entries(conn, entries)  # and the change hooks' subscribers, in this transaction
        result.delivery_id = int(
            conn.execute(
                _INSERT_DELIVERY,
                {
                    "received_at": now,
                    "receiver": delivery.receiver,
                    "group_key": delivery.group_key,
                    "status": delivery.status,
                    "alert_count": len(delivery.alerts),
                    "truncated_alerts": delivery.truncated_alerts,
                    "payload": delivery.raw,
                    "outcome": result.summary(),
                },
            ).scalar_one()
        )
    return result


@dataclass(frozen=True)
class _Known:
    id: int
    incident_id: int
    starts_at: datetime
    status: str
    incident_state: str


def _known(conn: Connection, fingerprints: Iterable[str]) -> dict[str, list[_Known]]:
    """Every stored occurrence of these fingerprints, with its incident's state."""
    wanted = sorted(fingerprints)
    if not wanted:
        return {}
    rows = conn.execute(_KNOWN, {"b_fps": wanted}).all()
    out: dict[str, list[_Known]] = defaultdict(list)
    for r in rows:
        out[r.fingerprint].append(_Known(r.id, r.incident_id, r.starts_at, r.status, r.state))
    return out


def _place_new(
    conn: Connection,
    new: list[AlertIn],
    group_labels: dict[str, str],
    known: dict[str, list[_Known]],
    correlator: Correlator,
    touches: dict[int, _Touch],
    entries: list[dict[str, Any]],
    result: IngestResult,
    now: datetime,
) -> None:
    """New firing occurrences: join the active incident of their key, or open one (linked on a re-fire)."""
    groups: dict[str, list[AlertIn]] = defaultdict(list)
    for alert in new:
        groups[correlator.key(alert.labels, group_labels)].append(alert)
    active = {r.correlation_key: r for r in conn.execute(_ACTIVE, {"b_keys": sorted(groups)}).all()}
    instances: list[dict[str, Any]] = []
    for key in sorted(groups):
        alerts = groups[key]
        severities = [(severity_rank(s), s) for s in (correlator.severity(a.labels) for a in alerts)]
        top = max(severities)
        if key in active:
            incident_id = int(active[key].id)
            touch = touches[incident_id]
            touch.changed = True
            touch.count += len(alerts)
            touch.added += [a.fingerprint for a in alerts]
            if top[0] > active[key].severity_rank:
                touch.severity = top
            result.added += len(alerts)
        else:
            incident_id = _open(conn, key, alerts, top, correlator, now)
            result.opened.append(incident_id)
            earlier = _earlier_incident(alerts, known)
            data: dict[str, Any] = {
                "alert_name": alerts[0].alert_name,
                "severity": top[1],
                "fingerprints": [a.fingerprint for a in alerts][:MAX_LISTED],
                "instances": len(alerts),
            }
            if earlier is not None:
                conn.execute(
                    insert(incident_links).values(
                        incident_id=incident_id,
                        earlier_incident_id=earlier[0],
                        reason="refire",
                        fingerprint=earlier[1],
                        created_at=now,
                    )
                )
                data["earlier_incident_id"] = earlier[0]
            entries.append(entry(incident_id, "opened", now, _title(alerts[0]), data))
        for alert, (_, severity) in zip(alerts, severities, strict=True):
            instances.append(
                {
                    "incident_id": incident_id,
                    "fingerprint": alert.fingerprint,
                    "starts_at": alert.starts_at,
                    "ends_at": None,
                    "status": INSTANCE_FIRING,
                    "alert_name": alert.alert_name[:255],
                    "severity": severity,
                    "labels": alert.labels,
                    "annotations": alert.annotations,
                    "generator_url": alert.generator_url,
                    "first_seen_at": now,
                    "last_seen_at": now,
                    "resolved_at": None,
                    "resolved_by": None,
                    "stale_at": None,
                    "occurrence_count": 1,
                }
            )
    conn.execute(_INSERT_INSTANCES, instances)


def _earlier_incident(alerts: list[AlertIn], known: dict[str, list[_Known]]) -> tuple[int, str] | None:
    """The latest resolved incident an earlier occurrence of one of these fingerprints belonged to."""
    best: tuple[datetime, int, str] | None = None
    for alert in alerts:
        for row in known.get(alert.fingerprint, []):
            if row.incident_state == STATE_RESOLVED and (best is None or row.starts_at > best[0]):
                best = (row.starts_at, row.incident_id, alert.fingerprint)
    return (best[1], best[2]) if best is not None else None


def _open(
    conn: Connection, key: str, alerts: list[AlertIn], top: tuple[int, str], correlator: Correlator, now: datetime
) -> int:
    first = alerts[0]
    labels = first.labels
    return int(
        conn.execute(
            _OPEN,
            dict(
                correlation_key=key,
                fingerprint=first.fingerprint,
                alert_name=first.alert_name[:255],
                service=(labels.get("service") or None),
                slo=(labels.get("slo") or None),
                severity=top[1],
                severity_rank=top[0],
                state=STATE_OPEN,
                title=_title(first),
                summary=first.annotations.get("description") or None,
                labels=labels,
                annotations=first.annotations,
                runbook_url=first.annotations.get("runbook_url") or None,
                trace_id=trace_id_from(first.annotations, labels),
                opened_at=now,
                opened_by=SYSTEM_ALERTMANAGER,
                last_seen_at=now,
                occurrence_count=len(alerts),
                updated_at=now,
                version=1,
            ),
        ).scalar_one()
    )


def _title(alert: AlertIn) -> str:
    return (alert.annotations.get("summary") or alert.alert_name)[:500]


def entry(
    incident_id: int,
    kind: str,
    at: datetime,
    message: str | None,
    data: dict[str, Any],
    actor: str = SYSTEM_ALERTMANAGER,
) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "kind": kind,
        "actor": actor,
        "at": at,
        "message": message,
        "data": data,
    }


def _apply_touches(
    conn: Connection, touches: dict[int, _Touch], entries: list[dict[str, Any]], delivery: Delivery, now: datetime
) -> None:
    """Counters on every incident touched; a version bump and timeline entries only where something changed."""
    if not touches:
        return
    params = []
    for incident_id in sorted(touches):
        touch = touches[incident_id]
        params.append({"b_id": incident_id, "b_count": touch.count, "b_version": 1 if touch.changed else 0})
        if touch.added:
            n = len(touch.added)
            entries.append(
                entry(
                    incident_id,
                    "instance_added",
                    now,
                    f"{n} alert instance{'s' if n > 1 else ''} added",
                    {"fingerprints": touch.added[:MAX_LISTED], "instances": n},
                )
            )
        if touch.severity is not None:
            entries.append(
                entry(
                    incident_id,
                    "severity_raised",
                    now,
                    f"severity raised to {touch.severity[1]}",
                    {"to": touch.severity[1]},
                )
            )
            conn.execute(
                update(incidents)
                .where(incidents.c.id == incident_id)
                .values(severity=touch.severity[1], severity_rank=touch.severity[0])
            )
        if touch.resolved:
            n = len(touch.resolved)
            entries.append(
                entry(
                    incident_id,
                    "instance_resolved",
                    now,
                    f"{n} alert instance{'s' if n > 1 else ''} resolved",
                    {"fingerprints": touch.resolved[:MAX_LISTED], "instances": n},
                )
            )
        if delivery.truncated_alerts:
            entries.append(
                entry(
                    incident_id,
                    "truncated_alerts",
                    now,
                    f"Alertmanager left {delivery.truncated_alerts} alerts out of this delivery (max_alerts)",
                    {"truncated_alerts": delivery.truncated_alerts},
                )
            )
    conn.execute(_TOUCH, [{**p, "b_now": now} for p in params])


def resolve_finished(
    conn: Connection,
    candidates: list[int],
    entries: list[dict[str, Any]],
    now: datetime,
    actor: str = SYSTEM_ALERTMANAGER,
) -> list[int]:
    """Resolve, as ``actor``, the candidates none of whose instances fires any more (their timeline entries
    are appended to ``entries``)."""
    if not candidates:
        return []
    firing = set(conn.execute(_FIRING_LEFT, {"b_ids": sorted(candidates)}).scalars())
    done = sorted(set(candidates) - firing)
    if not done:
        return []
    resolved = sorted(
        int(i) for i in conn.execute(_RESOLVE_INCIDENTS, {"b_ids": done, "b_now": now, "b_actor": actor}).scalars()
    )
    for incident_id in resolved:
        entries.append(
            entry(
                incident_id,
                "resolved",
                now,
                "every alert instance has resolved",
                {"from": "open|acknowledged", "to": STATE_RESOLVED},
                actor,
            )
        )
    return resolved
