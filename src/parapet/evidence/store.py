"""The incident store and its operator API.

Every command is one transaction that changes the incident and writes its timeline entry (and, for an
action, its tool audit); it returns the new state or raises and changes nothing:

    open_or_touch(alert)              a new incident (timeline "opened"), or the active one with the same
                                      correlation key gets last_seen_at and occurrence_count bumped
    acknowledge(id, actor=…)          open -> acknowledged                       timeline "acknowledged"
    resolve(id, actor=…)              open | acknowledged -> resolved            timeline "resolved"
    reopen(id, actor=…)               resolved -> open                           timeline "reopened"
    add_note(id, actor=…, text=…)     any state                                  timeline "note"
    record_action(id, tool=…, …)      any state                                  timeline "action" + tool audit
    claim_action(id, kind, key, …)    first caller wins (unique claim), later callers get False
    record_system_event(kind, …)      deploys and feature-flag changes, pruned by ``parapet archive``

Reads for the operator UI: ``queue`` (keyset pages), ``queue_counts`` (per state, capped at COUNT_CAP),
``queue_facets`` (services and severities to filter by), ``timeline_page`` (newest first, keyset pages),
``timeline_after`` (what changed since an entry), ``changes`` (deploys and flag changes in a window, keyset
pages: the UI's suspect changes and MCP's list_changes both read it), ``changes_before`` (suspect changes
before an incident opened).

Alertmanager's deliveries are applied by ``parapet.alerts.intake`` (one transaction each); the reads the
UI needs of what they wrote are here: ``alert_instances(id)``, ``links(id)`` (re-fires: earlier and later
incidents), ``stale_incident_ids(ids)``, and the queue's ``stale`` filter.

Commands that take ``expected_version`` refuse with StaleVersion when the incident changed since the
caller read it. Every write to an incident or its children bumps ``version`` (a repeated alert's touch
does not: it must not invalidate an operator's view), which is also what lets the archiver refuse to
delete an incident that changed after it was written to the archive.

Errors (all EvidenceError, a UserError with a hint):

    EvidenceError
    ├── IncidentNotFound        no incident with that id (or it was archived)
    ├── IllegalTransition       e.g. acknowledging a resolved incident
    ├── StaleVersion            expected_version is not the current version
    ├── ActiveIncidentExists    reopening while another incident with the same correlation key is active
    └── InvalidQuery            a bad queue limit or cursor

The queue is keyset-paged over (state, severity_rank, opened_at, id), descending: open before
acknowledged, most severe first, newest first. It never uses OFFSET.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Engine, Row, and_, func, insert, literal, select, text, tuple_, union_all, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from parapet.errors import UserError
from parapet.evidence import hooks
from parapet.evidence.schema import (
    ACTIVE_STATES,
    INSTANCE_FIRING,
    STATE_ACKNOWLEDGED,
    STATE_OPEN,
    STATE_RESOLVED,
    STATES,
    action_claims,
    alert_instances,
    incident_links,
    incidents,
    system_events,
    timeline_entries,
    tool_audits,
)

QUEUE_DEFAULT_LIMIT: Final = 30
QUEUE_MAX_LIMIT: Final = 100
COUNT_CAP: Final = 1_000  # queue counts stop there ("1,000+"): a count never scans a million rows
TIMELINE_MAX_LIMIT: Final = 500
CHANGES_MAX_LIMIT: Final = 500

# Higher is more severe. Alertmanager severities are free text; these are the common spellings.
SEVERITY_RANKS: Final[Mapping[str, int]] = {
    "critical": 50,
    "page": 50,
    "emergency": 50,
    "high": 40,
    "error": 40,
    "major": 40,
    "warning": 30,
    "ticket": 30,
    "minor": 30,
    "medium": 30,
    "info": 20,
    "low": 10,
    "none": 0,
}


UNKNOWN_RANK: Final = 25
FACET_SAMPLE: Final = 50


def severity_rank(severity: str) -> int:
    """The rank the queue sorts by; unknown severities rank 25, between warning and info."""
    return SEVERITY_RANKS.get(severity.strip().lower(), UNKNOWN_RANK)


class EvidenceError(UserError):
    """A store command was refused; nothing was changed."""


class IncidentNotFound(EvidenceError):
    pass


class IllegalTransition(EvidenceError):
    pass


class StaleVersion(EvidenceError):
    pass


class ActiveIncidentExists(EvidenceError):
    pass


class InvalidQuery(EvidenceError):
    pass


@dataclass(frozen=True)
class Alert:
    """What an alert brings to the store (parsed from Alertmanager elsewhere)."""

    correlation_key: str
    alert_name: str
    severity: str
    title: str
    fingerprint: str | None = None
    service: str | None = None
    slo: str | None = None
    summary: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    runbook_url: str | None = None
    trace_id: str | None = None


@dataclass(frozen=True)
class Incident:
    id: int
    correlation_key: str
    fingerprint: str | None
    alert_name: str
    service: str | None
    slo: str | None
    severity: str
    severity_rank: int
    state: str
    title: str
    summary: str | None
    labels: dict[str, Any]
    annotations: dict[str, Any]
    runbook_url: str | None
    trace_id: str | None
    opened_at: datetime
    opened_by: str
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    last_seen_at: datetime
    occurrence_count: int
    updated_at: datetime
    version: int


@dataclass(frozen=True)
class TimelineEntry:
    id: int
    incident_id: int
    kind: str
    actor: str
    at: datetime
    message: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class ToolAudit:
    id: int
    incident_id: int
    timeline_entry_id: int | None
    tool: str
    action_key: str
    actor: str
    parameters: dict[str, Any]
    outcome: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None


@dataclass(frozen=True)
class SystemEvent:
    id: int
    kind: str
    service: str | None
    occurred_at: datetime
    actor: str | None
    message: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class ChangePage:
    """System events newest first; pass ``next_cursor`` back as ``cursor`` for older ones (None: no more)."""

    items: tuple[SystemEvent, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class TimelinePage:
    """Timeline entries newest first; ``older_cursor`` pages on towards the opening, None at the start."""

    items: tuple[TimelineEntry, ...]
    older_cursor: str | None
    total: int
    newest_id: int | None  # the newest entry of the whole timeline (a form's "what I saw")


@dataclass(frozen=True)
class StateCount:
    count: int
    capped: bool  # True when there are at least ``count`` (the cap), possibly many more


@dataclass(frozen=True)
class AlertInstance:
    """One occurrence of an alert (fingerprint, starts_at) and the incident it joined."""

    id: int
    incident_id: int
    fingerprint: str
    starts_at: datetime
    ends_at: datetime | None
    status: str  # "firing" or "resolved"
    alert_name: str
    severity: str
    labels: dict[str, Any]
    annotations: dict[str, Any]
    generator_url: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    stale_at: datetime | None  # set when no delivery repeated it for 3 x repeat_interval (never resolves it)
    occurrence_count: int

    @property
    def stale(self) -> bool:
        return self.stale_at is not None and self.status == INSTANCE_FIRING


@dataclass(frozen=True)
class IncidentLink:
    """A link between two incidents: ``direction`` is "earlier" (this one re-fired it) or "later"."""

    incident_id: int  # the other incident
    direction: str
    reason: str
    fingerprint: str | None
    created_at: datetime


@dataclass(frozen=True)
class Touch:
    """The result of ``open_or_touch``: the incident, and whether this alert created it."""

    incident: Incident
    created: bool


@dataclass(frozen=True)
class QueuePage:
    items: tuple[Incident, ...]
    next_cursor: str | None  # pass back as ``cursor`` for the next page; None on the last page


def _row(cls: type[Any], row: Row[Any]) -> Any:
    return cls(**dict(row._mapping))


def encode_cursor(incident: Incident) -> str:
    raw = json.dumps([incident.state, incident.severity_rank, incident.opened_at.isoformat(), incident.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int, datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        state, rank, opened, ident = json.loads(raw)
        when = datetime.fromisoformat(opened)
        if not (isinstance(state, str) and isinstance(rank, int) and isinstance(ident, int) and when.tzinfo):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidQuery(
            "invalid queue cursor", hint="pass back the next_cursor of the previous page, unchanged"
        ) from None
    return state, rank, when, ident


def _encode_timeline_cursor(entry: TimelineEntry) -> str:
    return _encode_keyset(entry.at, entry.id)


def _encode_keyset(at: datetime, ident: int) -> str:
    raw = json.dumps([at.isoformat(), ident])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_timeline_cursor(cursor: str, *, what: str = "timeline") -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, ident = json.loads(raw)
        when = datetime.fromisoformat(at)
        if not (isinstance(ident, int) and when.tzinfo):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidQuery(
            f"invalid {what} cursor", hint="pass back the cursor of the previous page (or its link), unchanged"
        ) from None
    return when, ident


def utcnow() -> datetime:
    return datetime.now(UTC)


class Store:
    """The incident store over an engine (see ``parapet.evidence.db.create_engine_for``)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    # -- commands ---------------------------------------------------------------------------------

    def open_or_touch(self, alert: Alert, *, actor: str = "system:alertmanager") -> Touch:
        """Open an incident for the alert, or touch the active one with the same correlation key.

        Two nodes receiving the same alert at once cannot both open: the partial unique index on the
        correlation key refuses the second insert, which then touches the first one's incident.
        """
        for attempt in range(3):
            try:
                return self._open_or_touch(alert, actor)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _open_or_touch(self, alert: Alert, actor: str) -> Touch:
        now = self.clock()
        with self.engine.begin() as conn:
            touched = conn.execute(
                update(incidents)
                .where(incidents.c.correlation_key == alert.correlation_key, incidents.c.state != STATE_RESOLVED)
                .values(
                    last_seen_at=now,
                    occurrence_count=incidents.c.occurrence_count + 1,
                    updated_at=now,
                )
                .returning(*incidents.c)
            ).first()
            if touched is not None:
                return Touch(_row(Incident, touched), created=False)
            row = conn.execute(
                insert(incidents)
                .values(
                    correlation_key=alert.correlation_key,
                    fingerprint=alert.fingerprint,
                    alert_name=alert.alert_name,
                    service=alert.service,
                    slo=alert.slo,
                    severity=alert.severity,
                    severity_rank=severity_rank(alert.severity),
                    state=STATE_OPEN,
                    title=alert.title,
                    summary=alert.summary,
                    labels=dict(alert.labels),
                    annotations=dict(alert.annotations),
                    runbook_url=alert.runbook_url,
                    trace_id=alert.trace_id,
                    opened_at=now,
                    opened_by=actor,
                    last_seen_at=now,
                    occurrence_count=1,
                    updated_at=now,
                    version=1,
                )
                .returning(*incidents.c)
            ).one()
            incident: Incident = _row(Incident, row)
            self._entry(
                conn,
                incident.id,
                "opened",
                actor,
                now,
                alert.title,
                {"alert_name": alert.alert_name, "fingerprint": alert.fingerprint, "severity": alert.severity},
            )
            return Touch(incident, created=True)

    def acknowledge(
        self, incident_id: int, *, actor: str, expected_version: int | None = None, message: str | None = None
    ) -> Incident:
        now = self.clock()
        return self._transition(
            incident_id,
            to=STATE_ACKNOWLEDGED,
            allowed=(STATE_OPEN,),
            actor=actor,
            expected_version=expected_version,
            kind="acknowledged",
            message=message,
            values={"acknowledged_at": now, "acknowledged_by": actor},
            now=now,
        )

    def resolve(
        self, incident_id: int, *, actor: str, expected_version: int | None = None, message: str | None = None
    ) -> Incident:
        now = self.clock()
        return self._transition(
            incident_id,
            to=STATE_RESOLVED,
            allowed=(STATE_OPEN, STATE_ACKNOWLEDGED),
            actor=actor,
            expected_version=expected_version,
            kind="resolved",
            message=message,
            values={"resolved_at": now, "resolved_by": actor},
            now=now,
        )

    def reopen(
        self, incident_id: int, *, actor: str, expected_version: int | None = None, message: str | None = None
    ) -> Incident:
        now = self.clock()
        try:
            return self._transition(
                incident_id,
                to=STATE_OPEN,
                allowed=(STATE_RESOLVED,),
                actor=actor,
                expected_version=expected_version,
                kind="reopened",
                message=message,
                values={"resolved_at": None, "resolved_by": None, "acknowledged_at": None, "acknowledged_by": None},
                now=now,
            )
        except IntegrityError:
            other = self._active_for_key_of(incident_id)
            raise ActiveIncidentExists(
                f"cannot reopen incident {incident_id}: incident {other} is active for the same correlation key",
                hint=f"work on incident {other} instead, or resolve it first",
            ) from None

    def add_note(
        self, incident_id: int, *, actor: str, text: str, expected_version: int | None = None
    ) -> TimelineEntry:
        now = self.clock()
        with self.engine.begin() as conn:
            self._bump(conn, incident_id, expected_version, now)
            return self._entry(conn, incident_id, "note", actor, now, text, {})

    def record_action(
        self,
        incident_id: int,
        *,
        tool: str,
        action_key: str,
        actor: str,
        parameters: Mapping[str, Any],
        outcome: str,
        started_at: datetime,
        finished_at: datetime | None,
        error: str | None = None,
    ) -> ToolAudit:
        """Record a runbook or tool action: its timeline entry and its tool audit, in one transaction."""
        now = self.clock()
        with self.engine.begin() as conn:
            self._bump(conn, incident_id, None, now)
            entry = self._entry(
                conn,
                incident_id,
                "action",
                actor,
                now,
                f"{tool} {action_key}: {outcome}",
                {"tool": tool, "action_key": action_key, "outcome": outcome},
            )
            row = conn.execute(
                insert(tool_audits)
                .values(
                    incident_id=incident_id,
                    timeline_entry_id=entry.id,
                    tool=tool,
                    action_key=action_key,
                    actor=actor,
                    parameters=dict(parameters),
                    outcome=outcome,
                    started_at=started_at,
                    finished_at=finished_at,
                    error=error,
                )
                .returning(*tool_audits.c)
            ).one()
            audit: ToolAudit = _row(ToolAudit, row)
            return audit

    def claim_action(self, incident_id: int, *, action_kind: str, action_key: str, claimed_by: str) -> bool:
        """Claim an action once per (incident, kind, key). True for the one caller that won."""
        now = self.clock()
        try:
            with self.engine.begin() as conn:
                self._bump(conn, incident_id, None, now)
                conn.execute(
                    insert(action_claims).values(
                        incident_id=incident_id,
                        action_kind=action_kind,
                        action_key=action_key,
                        claimed_by=claimed_by,
                        claimed_at=now,
                        status="claimed",
                    )
                )
                self._entry(
                    conn,
                    incident_id,
                    "action_claimed",
                    claimed_by,
                    now,
                    None,
                    {"action_kind": action_kind, "action_key": action_key},
                )
        except IntegrityError:
            return False
        return True

    def record_system_event(
        self,
        kind: str,
        *,
        service: str | None = None,
        actor: str | None = None,
        message: str | None = None,
        data: Mapping[str, Any] | None = None,
        occurred_at: datetime | None = None,
    ) -> int:
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    insert(system_events)
                    .values(
                        kind=kind,
                        service=service,
                        actor=actor,
                        message=message,
                        data=dict(data or {}),
                        occurred_at=occurred_at or self.clock(),
                    )
                    .returning(system_events.c.id)
                ).scalar_one()
            )

    # -- queries ----------------------------------------------------------------------------------

    def get(self, incident_id: int) -> Incident:
        with self._reading() as conn:
            row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()
        if row is None:
            raise _not_found(incident_id)
        incident: Incident = _row(Incident, row)
        return incident

    def timeline(self, incident_id: int) -> list[TimelineEntry]:
        with self._reading() as conn:
            rows = conn.execute(
                select(timeline_entries)
                .where(timeline_entries.c.incident_id == incident_id)
                .order_by(timeline_entries.c.at, timeline_entries.c.id)
            ).all()
        return [_row(TimelineEntry, r) for r in rows]

    def timeline_page(self, incident_id: int, *, limit: int = 100, before: str | None = None) -> TimelinePage:
        """One page of an incident's timeline, newest first, keyset-paged over (at, id)."""
        if not 1 <= limit <= TIMELINE_MAX_LIMIT:
            raise InvalidQuery(f"timeline limit {limit} is out of range", hint=f"use 1 to {TIMELINE_MAX_LIMIT}")
        key = (timeline_entries.c.at, timeline_entries.c.id)
        query = select(timeline_entries).where(timeline_entries.c.incident_id == incident_id)
        if before is not None:
            at, ident = _decode_timeline_cursor(before)
            after = [literal(at, type_=timeline_entries.c.at.type), literal(ident, type_=timeline_entries.c.id.type)]
            query = query.where(tuple_(*key) < tuple_(*after))
        query = query.order_by(*(c.desc() for c in key)).limit(limit + 1)
        with self._reading() as conn:
            rows = conn.execute(query).all()
            total = int(
                conn.execute(
                    select(func.count())
                    .select_from(timeline_entries)
                    .where(timeline_entries.c.incident_id == incident_id)
                ).scalar_one()
            )
            if before is None:
                newest = int(rows[0].id) if rows else None
            else:
                newest = conn.execute(
                    select(timeline_entries.c.id)
                    .where(timeline_entries.c.incident_id == incident_id)
                    .order_by(*(c.desc() for c in key))
                    .limit(1)
                ).scalar()
        items = tuple(_row(TimelineEntry, r) for r in rows[:limit])
        older = _encode_timeline_cursor(items[-1]) if len(rows) > limit else None
        return TimelinePage(items, older, total, newest)

    def timeline_after(self, incident_id: int, after_id: int, *, limit: int = 50) -> list[TimelineEntry]:
        """Entries written after the one with id ``after_id`` (what changed since a page was read), oldest first."""
        with self._reading() as conn:
            rows = conn.execute(
                select(timeline_entries)
                .where(timeline_entries.c.incident_id == incident_id, timeline_entries.c.id > after_id)
                .order_by(timeline_entries.c.id)
                .limit(limit)
            ).all()
        return [_row(TimelineEntry, r) for r in rows]

    def queue_counts(self, *, severity: str | None = None, service: str | None = None) -> dict[str, StateCount]:
        """How many incidents each state holds under the queue's filters, each count capped at COUNT_CAP."""
        counts = []
        for state in STATES:
            inner = select(literal(1)).select_from(incidents).where(incidents.c.state == state)
            if service is not None:
                inner = inner.where(incidents.c.service == service)
            if severity is not None:
                inner = inner.where(incidents.c.severity == severity)
            sub = inner.limit(COUNT_CAP).subquery()
            counts.append(select(func.count()).select_from(sub).scalar_subquery().label(state))
        with self._reading() as conn:
            row = conn.execute(select(*counts)).one()
        return {s: StateCount(int(row._mapping[s]), int(row._mapping[s]) >= COUNT_CAP) for s in STATES}

    def queue_facets(self, *, limit: int = 100) -> tuple[list[str], list[str]]:
        """The services and severities of active incidents (for the queue's filters), each sorted, at most ``limit``.

        Bounded however many incidents are active (a plain DISTINCT read 50,000 rows, 1.6 s): services by a
        skip scan of the service index (one probe per service, exact); severities from at most
        FACET_SAMPLE active incidents of each state and severity rank (a rarer spelling of a crowded rank may be missed;
        the filter still takes it from the URL)."""
        low, high = min(ACTIVE_STATES), max(ACTIVE_STATES)
        per_rank = [  # each a seek on the queue index's (state, severity_rank) prefix
            select(incidents.c.severity)
            .where(incidents.c.state == state, incidents.c.severity_rank == rank)
            .limit(FACET_SAMPLE)
            .subquery()
            for state in ACTIVE_STATES
            for rank in sorted(set(SEVERITY_RANKS.values()) | {UNKNOWN_RANK})
        ]
        severities = union_all(*(select(sub.c.severity) for sub in per_rank)).subquery()
        with self._reading() as conn:
            services = conn.execute(_SERVICES_SKIP_SCAN, {"low": low, "high": high, "limit": limit}).scalars()
            found = conn.execute(
                select(severities.c.severity).distinct().order_by(severities.c.severity).limit(limit)
            ).scalars()
            return [str(s) for s in services], [str(s) for s in found]

    def changes(
        self,
        *,
        since: datetime,
        until: datetime,
        service: str | None = None,
        kinds: Sequence[str] = (),
        limit: int = 50,
        cursor: str | None = None,
    ) -> ChangePage:
        """Deploys and flag changes with ``since <= occurred_at <= until``, newest first, keyset-paged over
        (occurred_at, id). ``service``: that service's events and those recorded for no service (a flag
        change of a shared provider concerns every service); ``kinds``: only these kinds (empty: all)."""
        if not 1 <= limit <= CHANGES_MAX_LIMIT:
            raise InvalidQuery(f"changes limit {limit} is out of range", hint=f"use 1 to {CHANGES_MAX_LIMIT}")
        key = (system_events.c.occurred_at, system_events.c.id)
        query = select(system_events).where(system_events.c.occurred_at >= since, system_events.c.occurred_at <= until)
        if service is not None:
            query = query.where((system_events.c.service == service) | system_events.c.service.is_(None))
        if kinds:
            query = query.where(system_events.c.kind.in_(sorted(set(kinds))))
        if cursor is not None:
            at, ident = _decode_timeline_cursor(cursor, what="changes")
            after = [literal(at, type_=system_events.c.occurred_at.type), literal(ident, type_=system_events.c.id.type)]
            query = query.where(tuple_(*key) < tuple_(*after))
        query = query.order_by(*(c.desc() for c in key)).limit(limit + 1)
        with self._reading() as conn:
            rows = conn.execute(query).all()
        items = tuple(_row(SystemEvent, r) for r in rows[:limit])
        more = len(rows) > limit
        return ChangePage(items, _encode_keyset(items[-1].occurred_at, items[-1].id) if more else None)

    def changes_before(
        self, incident: Incident, *, window: timedelta = timedelta(minutes=60), limit: int = 50
    ) -> list[SystemEvent]:
        """System events (deploys, flag changes) of the window before the incident opened: suspect changes.

        Events of the incident's service and events without a service count; newest first."""
        page = self.changes(
            since=incident.opened_at - window, until=incident.opened_at, service=incident.service, limit=limit
        )
        return list(page.items)

    def tool_audits(self, incident_id: int) -> list[ToolAudit]:
        with self._reading() as conn:
            rows = conn.execute(
                select(tool_audits)
                .where(tool_audits.c.incident_id == incident_id)
                .order_by(tool_audits.c.started_at, tool_audits.c.id)
            ).all()
        return [_row(ToolAudit, r) for r in rows]

    def alert_instances(self, incident_id: int) -> list[AlertInstance]:
        """The incident's alert instances: firing first, then by start."""
        with self._reading() as conn:
            rows = conn.execute(
                select(alert_instances)
                .where(alert_instances.c.incident_id == incident_id)
                .order_by(alert_instances.c.status, alert_instances.c.starts_at, alert_instances.c.id)
            ).all()
        return [_row(AlertInstance, r) for r in rows]

    def links(self, incident_id: int) -> list[IncidentLink]:
        """Incidents this one re-fired ("earlier") and those that re-fired it ("later"), oldest first."""
        with self._reading() as conn:
            earlier = conn.execute(select(incident_links).where(incident_links.c.incident_id == incident_id)).all()
            later = conn.execute(
                select(incident_links).where(incident_links.c.earlier_incident_id == incident_id)
            ).all()
        out = [IncidentLink(r.earlier_incident_id, "earlier", r.reason, r.fingerprint, r.created_at) for r in earlier]
        out += [IncidentLink(r.incident_id, "later", r.reason, r.fingerprint, r.created_at) for r in later]
        return sorted(out, key=lambda link: (link.created_at, link.incident_id))

    def stale_incident_ids(self, incident_ids: Sequence[int]) -> set[int]:
        """Which of these incidents have a firing alert instance marked stale (for the queue's flags)."""
        if not incident_ids:
            return set()
        with self._reading() as conn:
            rows = conn.execute(
                select(alert_instances.c.incident_id)
                .where(
                    alert_instances.c.incident_id.in_(sorted(set(incident_ids))),
                    alert_instances.c.status == INSTANCE_FIRING,
                    alert_instances.c.stale_at.is_not(None),
                )
                .distinct()
            ).scalars()
            return {int(i) for i in rows}

    def queue(
        self,
        *,
        states: Sequence[str] = ACTIVE_STATES,
        severity: str | None = None,
        service: str | None = None,
        stale: bool | None = None,
        limit: int = QUEUE_DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> QueuePage:
        """One page of the operator queue; pass ``next_cursor`` back for the next page. ``stale``: only
        incidents with (True) or without (False) a stale firing instance."""
        with self._reading() as conn:
            rows = conn.execute(queue_query(states, severity, service, limit, cursor, stale=stale)).all()
        items = tuple(_row(Incident, r) for r in rows[:limit])
        next_cursor = encode_cursor(items[-1]) if len(rows) > limit else None
        return QueuePage(items, next_cursor)

    # -- helpers ----------------------------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection for one read-only statement. On PostgreSQL it runs in autocommit: one round trip
        instead of three (BEGIN, the query, ROLLBACK), which is most of a queue page's time."""
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    def _transition(
        self,
        incident_id: int,
        *,
        to: str,
        allowed: tuple[str, ...],
        actor: str,
        expected_version: int | None,
        kind: str,
        message: str | None,
        values: dict[str, Any],
        now: datetime,
    ) -> Incident:
        with self.engine.begin() as conn:
            conditions = [incidents.c.id == incident_id, incidents.c.state.in_(allowed)]
            if expected_version is not None:
                conditions.append(incidents.c.version == expected_version)
            row = conn.execute(
                update(incidents)
                .where(*conditions)
                .values(state=to, version=incidents.c.version + 1, updated_at=now, **values)
                .returning(*incidents.c)
            ).first()
            if row is None:
                current = conn.execute(
                    select(incidents.c.state, incidents.c.version).where(incidents.c.id == incident_id)
                ).first()
                if current is None:
                    raise _not_found(incident_id)
                if current.state not in allowed:
                    raise IllegalTransition(
                        f"cannot mark incident {incident_id} {kind}: it is {current.state}",
                        hint=f"only {' or '.join(allowed)} incidents can be {kind}",
                    )
                raise _stale(incident_id, expected_version, current.version)
            incident: Incident = _row(Incident, row)
            self._entry(conn, incident_id, kind, actor, now, message, {"from": _other(allowed), "to": to})
            return incident

    def _bump(self, conn: Connection, incident_id: int, expected_version: int | None, now: datetime) -> None:
        """Bump the incident's version first: it locks the row, so the archiver cannot delete it meanwhile."""
        conditions = [incidents.c.id == incident_id]
        if expected_version is not None:
            conditions.append(incidents.c.version == expected_version)
        result = conn.execute(
            update(incidents)
            .where(and_(*conditions))
            .values(version=incidents.c.version + 1, updated_at=now)
            .returning(incidents.c.id)
        ).first()
        if result is None:
            current = conn.execute(select(incidents.c.version).where(incidents.c.id == incident_id)).first()
            if current is None:
                raise _not_found(incident_id)
            raise _stale(incident_id, expected_version, current.version)

    def _entry(
        self,
        conn: Connection,
        incident_id: int,
        kind: str,
        actor: str,
        at: datetime,
        message: str | None,
        data: Mapping[str, Any],
    ) -> TimelineEntry:
        row = conn.execute(
            insert(timeline_entries)
            .values(incident_id=incident_id, kind=kind, actor=actor, at=at, message=message, data=dict(data))
            .returning(*timeline_entries.c)
        ).one()
        entry: TimelineEntry = _row(TimelineEntry, row)
        hooks.emit(conn, [hooks.Change(incident_id, kind, actor, at, entry.id, entry.data)])
        return entry

    def active_for_key_of(self, incident_id: int) -> int | None:
        """The active incident with the same correlation key as this one (what blocks reopening it), if any."""
        return self._active_for_key_of(incident_id)

    def _active_for_key_of(self, incident_id: int) -> int | None:
        with self.engine.connect() as conn:
            key = conn.execute(select(incidents.c.correlation_key).where(incidents.c.id == incident_id)).scalar()
            return conn.execute(
                select(incidents.c.id).where(incidents.c.correlation_key == key, incidents.c.state != STATE_RESOLVED)
            ).scalar()


# Every distinct service (one index probe each, through ix_parapet_incidents_service), then those with an
# active incident. Plain SQL that SQLite and PostgreSQL both run.
_SERVICES_SKIP_SCAN = text(
    f"""
    WITH RECURSIVE services(service) AS (
        SELECT min(service) FROM {incidents.name}
        UNION ALL
        SELECT (SELECT min(i.service) FROM {incidents.name} i WHERE i.service > services.service)
        FROM services WHERE services.service IS NOT NULL
    )
    SELECT service FROM services
    WHERE service IS NOT NULL AND EXISTS (
        SELECT 1 FROM {incidents.name} a WHERE a.service = services.service AND a.state >= :low AND a.state <= :high
    )
    ORDER BY service LIMIT :limit
    """
)


def queue_query(
    states: Sequence[str],
    severity: str | None,
    service: str | None,
    limit: int,
    cursor: str | None,
    *,
    stale: bool | None = None,
) -> Any:
    """The queue's SELECT (exposed so tests can EXPLAIN it): limit + 1 rows, keyset after ``cursor``."""
    if not 1 <= limit <= QUEUE_MAX_LIMIT:
        raise InvalidQuery(f"queue limit {limit} is out of range", hint=f"use 1 to {QUEUE_MAX_LIMIT}")
    unknown = [s for s in states if s not in STATES]
    if unknown or not states:
        raise InvalidQuery(f"unknown incident state(s): {', '.join(unknown) or '(none)'}", hint=f"use {STATES}")
    key = (incidents.c.state, incidents.c.severity_rank, incidents.c.opened_at, incidents.c.id)
    wanted = sorted(set(states))
    query = select(incidents)
    if service is not None:
        query = query.where(incidents.c.service == service)
    if severity is not None:
        # The rank as well (it follows from the severity): the queue index holds it, so a rare severity is
        # found by reading the index, not by fetching every active incident from the table.
        query = query.where(incidents.c.severity_rank == severity_rank(severity), incidents.c.severity == severity)
    if stale is not None:
        has_stale = (
            select(alert_instances.c.id)
            .where(
                alert_instances.c.incident_id == incidents.c.id,
                alert_instances.c.status == INSTANCE_FIRING,
                alert_instances.c.stale_at.is_not(None),
            )
            .exists()
        )
        # Only stale: driven from the (few) stale instances, not an EXISTS probe per active incident
        # (0.2 s at 50,000 active); not stale: the probe, which the first rows of the queue pass.
        stale_ids = select(alert_instances.c.incident_id).where(
            alert_instances.c.status == INSTANCE_FIRING, alert_instances.c.stale_at.is_not(None)
        )
        query = query.where(incidents.c.id.in_(stale_ids) if stale else ~has_stale)
    if cursor is None:
        if wanted == [s for s in sorted(STATES) if wanted[0] <= s <= wanted[-1]]:
            # Contiguous states as a range, not a list: one backward index scan then yields the queue's
            # order, also on the service index when a service is given (with ``IN`` the planner walks the
            # whole active set in the queue index and filters it by service: 0.3 s at 50,000 active).
            query = query.where(incidents.c.state >= wanted[0], incidents.c.state <= wanted[-1])
        else:
            query = query.where(incidents.c.state.in_(wanted))
        return query.order_by(*(c.desc() for c in key)).limit(limit + 1)
    position = decode_cursor(cursor)
    # The states left to page through: the cursor's own and those after it (the queue runs descending).
    left = [s for s in wanted if s <= position[0]]
    if left and left == [s for s in sorted(STATES) if left[0] <= s <= position[0]]:
        # A range, not a list: with ``state IN (…)`` the index scans each listed state from its end and
        # filters its way to the cursor (a deep page costs its depth); a range lets the row comparison
        # position the scan at the cursor itself.
        query = query.where(incidents.c.state >= left[0])
    else:
        query = query.where(incidents.c.state.in_(wanted))  # a state skipped in between (or a stale cursor)
    after = [literal(value, type_=column.type) for value, column in zip(position, key, strict=True)]
    return query.where(tuple_(*key) < tuple_(*after)).order_by(*(c.desc() for c in key)).limit(limit + 1)


def _other(allowed: tuple[str, ...]) -> str:
    return allowed[0] if len(allowed) == 1 else "|".join(allowed)


def _not_found(incident_id: int) -> IncidentNotFound:
    return IncidentNotFound(
        f"incident {incident_id} does not exist", hint="it may have been archived; check the id, or the archive file"
    )


def _stale(incident_id: int, expected: int | None, current: int) -> StaleVersion:
    return StaleVersion(
        f"incident {incident_id} changed meanwhile (version {current}, expected {expected})",
        hint="reload the incident and retry",
    )
