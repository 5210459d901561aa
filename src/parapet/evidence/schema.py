"""The evidence spine's tables, in SQLAlchemy Core, identical on SQLite and PostgreSQL.

    parapet_incidents         one row per incident; a partial unique index keeps one non-resolved incident
                              per correlation key; ``version`` is bumped by every write (optimistic concurrency)
    parapet_timeline_entries  what happened to an incident, in order (kind, actor, time, message, data)
    parapet_tool_audits       every runbook or tool action: parameters, outcome, start, finish, error
    parapet_action_claims     one claim per (incident, action kind, action key): "exactly one node acts"
    parapet_system_events     deploys, feature-flag changes; pruned after a retention (7 days by default)

Schema v2 (the operating loop's intake) adds:

    parapet_alert_instances   one row per alert occurrence, unique on (fingerprint, starts_at), linked to the
                              incident it joined; firing or resolved, last seen, stale flag, repeat count
    parapet_incident_links    a re-fire's new incident points at the earlier one (same fingerprint)
    parapet_webhook_deliveries every Alertmanager delivery as received (audit, replay); pruned by ``archive``
    parapet_workers           heartbeats of the processes that run the background loops (``parapet worker``)
    parapet_loops             each background loop's next due time and lease, shared by every process

Schema v3 (the operating loop's parts 2-4) adds:

    parapet_jobs              the durable work engine: one row per unit of work, unique on (kind, key), with
                              its due time, lease, attempt count and state (pending, running, done, dead)
    parapet_escalations       one row per escalating incident: its policy's chain (frozen JSON), the fencing
                              epoch (acknowledge, resolve and reopen bump it), the last tier run and the next
                              step's tier, repeat and due time
    parapet_notifier_messages where each notifier target announced each incident (Slack's channel:ts, updated
                              in place), a digest of the last message and when it was sent

Children cascade on delete. Every index is named, so migrations, plain SQL and Django produce the same
schema (a test compares them by reflection). ``ddl()`` renders the canonical CREATE statements for a
dialect; the plain SQL files, the Alembic revision and the Django migration are all derived from it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable
from sqlalchemy.types import TypeDecorator

SCHEMA_VERSION: Final = 3
TABLE_PREFIX: Final = "parapet_"

STATE_OPEN: Final = "open"
STATE_ACKNOWLEDGED: Final = "acknowledged"
STATE_RESOLVED: Final = "resolved"
STATES: Final = (STATE_OPEN, STATE_ACKNOWLEDGED, STATE_RESOLVED)
ACTIVE_STATES: Final = (STATE_OPEN, STATE_ACKNOWLEDGED)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp: ``timestamptz`` on PostgreSQL, ISO text on SQLite.

    Naive datetimes are refused when bound (they are ambiguous); values read back are always aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("evidence timestamps must be timezone-aware (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _id() -> Column[int]:
    # INTEGER on SQLite is the rowid alias (with AUTOINCREMENT below, ids are never reused after an
    # archive run deleted the newest rows); BIGINT identity on PostgreSQL.
    return Column("id", BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True)


def _fk_id(table: str, name: str, target: str, *, nullable: bool = False) -> Column[int]:
    return Column(
        name,
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey(target, ondelete="CASCADE", name=f"fk_{table}_{name}"),
        nullable=nullable,
    )


JSONType = JSON().with_variant(postgresql.JSONB(), "postgresql")
_AUTOINC: Final[dict[str, Any]] = {"sqlite_autoincrement": True}

metadata = MetaData()

incidents = Table(
    "parapet_incidents",
    metadata,
    _id(),
    Column("correlation_key", String(255), nullable=False),
    Column("fingerprint", String(64)),
    Column("alert_name", String(255), nullable=False),
    Column("service", String(255)),
    Column("slo", String(255)),
    Column("severity", String(32), nullable=False),
    Column("severity_rank", SmallInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("title", String(500), nullable=False),
    Column("summary", Text),
    Column("labels", JSONType, nullable=False),
    Column("annotations", JSONType, nullable=False),
    Column("runbook_url", Text),
    Column("trace_id", String(64)),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("opened_by", String(255), nullable=False),
    Column("acknowledged_at", UTCDateTime),
    Column("acknowledged_by", String(255)),
    Column("resolved_at", UTCDateTime),
    Column("resolved_by", String(255)),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("occurrence_count", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    CheckConstraint("state IN ('open', 'acknowledged', 'resolved')", name="ck_parapet_incidents_state"),
    **_AUTOINC,
)

# One non-resolved incident per correlation key: a second alert with the same key touches it instead.
Index(
    "uq_parapet_incidents_active_key",
    incidents.c.correlation_key,
    unique=True,
    sqlite_where=text("state <> 'resolved'"),
    postgresql_where=text("state <> 'resolved'"),
)
# The operator queue: WHERE state IN (…) ORDER BY state, severity_rank, opened_at, id (keyset, descending).
Index(
    "ix_parapet_incidents_queue",
    incidents.c.state,
    incidents.c.severity_rank,
    incidents.c.opened_at,
    incidents.c.id,
)
# A service's view of the same queue.
Index(
    "ix_parapet_incidents_service",
    incidents.c.service,
    incidents.c.state,
    incidents.c.severity_rank,
    incidents.c.opened_at,
    incidents.c.id,
)
# Archive selection: WHERE state = 'resolved' AND resolved_at < cutoff ORDER BY resolved_at, id.
Index("ix_parapet_incidents_archive", incidents.c.state, incidents.c.resolved_at, incidents.c.id)
Index("ix_parapet_incidents_fingerprint", incidents.c.fingerprint)

timeline_entries = Table(
    "parapet_timeline_entries",
    metadata,
    _id(),
    _fk_id("parapet_timeline_entries", "incident_id", "parapet_incidents.id"),
    Column("kind", String(64), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("message", Text),
    Column("data", JSONType, nullable=False),
    **_AUTOINC,
)
Index("ix_parapet_timeline_entries_incident", timeline_entries.c.incident_id, timeline_entries.c.at)

tool_audits = Table(
    "parapet_tool_audits",
    metadata,
    _id(),
    _fk_id("parapet_tool_audits", "incident_id", "parapet_incidents.id"),
    _fk_id("parapet_tool_audits", "timeline_entry_id", "parapet_timeline_entries.id", nullable=True),
    Column("tool", String(255), nullable=False),
    Column("action_key", String(255), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("parameters", JSONType, nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("error", Text),
    **_AUTOINC,
)
Index("ix_parapet_tool_audits_incident", tool_audits.c.incident_id, tool_audits.c.started_at)
Index("ix_parapet_tool_audits_entry", tool_audits.c.timeline_entry_id)

action_claims = Table(
    "parapet_action_claims",
    metadata,
    _id(),
    _fk_id("parapet_action_claims", "incident_id", "parapet_incidents.id"),
    Column("action_kind", String(64), nullable=False),
    Column("action_key", String(255), nullable=False),
    Column("claimed_by", String(255), nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("status", String(32), nullable=False),
    Column("finished_at", UTCDateTime),
    UniqueConstraint("incident_id", "action_kind", "action_key", name="uq_parapet_action_claims_action"),
    **_AUTOINC,
)

system_events = Table(
    "parapet_system_events",
    metadata,
    _id(),
    Column("kind", String(64), nullable=False),
    Column("service", String(255)),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("actor", String(255)),
    Column("message", Text),
    Column("data", JSONType, nullable=False),
    **_AUTOINC,
)
Index("ix_parapet_system_events_occurred", system_events.c.occurred_at)
Index("ix_parapet_system_events_service", system_events.c.service, system_events.c.occurred_at)

TABLES_V1: Final = (incidents, timeline_entries, tool_audits, action_claims, system_events)

# -- schema v2: the intake ----------------------------------------------------------------------------

INSTANCE_FIRING: Final = "firing"
INSTANCE_RESOLVED: Final = "resolved"

alert_instances = Table(
    "parapet_alert_instances",
    metadata,
    _id(),
    _fk_id("parapet_alert_instances", "incident_id", "parapet_incidents.id"),
    Column("fingerprint", String(64), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime),
    Column("status", String(16), nullable=False),
    Column("alert_name", String(255), nullable=False),
    Column("severity", String(32), nullable=False),
    Column("labels", JSONType, nullable=False),
    Column("annotations", JSONType, nullable=False),
    Column("generator_url", Text),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    Column("resolved_by", String(255)),
    Column("stale_at", UTCDateTime),
    Column("occurrence_count", Integer, nullable=False),
    CheckConstraint("status IN ('firing', 'resolved')", name="ck_parapet_alert_instances_status"),
    UniqueConstraint("fingerprint", "starts_at", name="uq_parapet_alert_instances_occurrence"),
    **_AUTOINC,
)
Index("ix_parapet_alert_instances_incident", alert_instances.c.incident_id, alert_instances.c.status)
# Staleness and the reconciler: firing instances by when they were last seen.
Index("ix_parapet_alert_instances_firing", alert_instances.c.status, alert_instances.c.last_seen_at)

incident_links = Table(
    "parapet_incident_links",
    metadata,
    _id(),
    _fk_id("parapet_incident_links", "incident_id", "parapet_incidents.id"),
    _fk_id("parapet_incident_links", "earlier_incident_id", "parapet_incidents.id"),
    Column("reason", String(64), nullable=False),
    Column("fingerprint", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("incident_id", "earlier_incident_id", name="uq_parapet_incident_links_pair"),
    **_AUTOINC,
)
Index("ix_parapet_incident_links_earlier", incident_links.c.earlier_incident_id)

webhook_deliveries = Table(
    "parapet_webhook_deliveries",
    metadata,
    _id(),
    Column("received_at", UTCDateTime, nullable=False),
    Column("receiver", String(255)),
    Column("group_key", Text),
    Column("status", String(16)),
    Column("alert_count", Integer, nullable=False),
    Column("truncated_alerts", Integer, nullable=False),
    Column("payload", JSONType, nullable=False),
    Column("outcome", JSONType, nullable=False),
    **_AUTOINC,
)
Index("ix_parapet_webhook_deliveries_received", webhook_deliveries.c.received_at)

workers = Table(
    "parapet_workers",
    metadata,
    Column("worker_id", String(255), primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
)
Index("ix_parapet_workers_seen", workers.c.seen_at)

loops = Table(
    "parapet_loops",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("due_at", UTCDateTime, nullable=False),
    Column("holder", String(255)),
    Column("lease_until", UTCDateTime),
    Column("last_run_at", UTCDateTime),
    Column("last_result", JSONType),
)

TABLES_V2: Final = (alert_instances, incident_links, webhook_deliveries, workers, loops)

# -- schema v3: the operating loop's parts 2-4 (work engine, escalation, notifiers, runbooks, MCP, probes) --

JOB_PENDING: Final = "pending"
JOB_RUNNING: Final = "running"
JOB_DONE: Final = "done"
JOB_DEAD: Final = "dead"
JOB_STATES: Final = (JOB_PENDING, JOB_RUNNING, JOB_DONE, JOB_DEAD)

jobs = Table(
    "parapet_jobs",
    metadata,
    _id(),
    Column("kind", String(64), nullable=False),
    Column("key", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("lease_holder", String(255)),
    Column("lease_until", UTCDateTime),
    Column("payload", JSONType, nullable=False),
    Column("result", JSONType),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    CheckConstraint("state IN ('pending', 'running', 'done', 'dead')", name="ck_parapet_jobs_state"),
    UniqueConstraint("kind", "key", name="uq_parapet_jobs_kind_key"),
    **_AUTOINC,
)
# The poller: WHERE state = 'pending' AND due_at <= now ORDER BY due_at, id (and expired leases of 'running').
Index("ix_parapet_jobs_due", jobs.c.state, jobs.c.due_at, jobs.c.id)
Index("ix_parapet_jobs_lease", jobs.c.state, jobs.c.lease_until)

ESCALATION_ACTIVE: Final = "active"
ESCALATION_STOPPED: Final = "stopped"
ESCALATION_DONE: Final = "done"

escalations = Table(
    "parapet_escalations",
    metadata,
    Column(
        "incident_id",
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("parapet_incidents.id", ondelete="CASCADE", name="fk_parapet_escalations_incident_id"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("policy", String(128), nullable=False),
    Column("chain", JSONType, nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("base_at", UTCDateTime, nullable=False),
    Column("tier", Integer, nullable=False),
    Column("repeat", Integer, nullable=False),
    Column("last_at", UTCDateTime),
    Column("next_tier", Integer),
    Column("next_repeat", Integer),
    Column("next_at", UTCDateTime),
    Column("executed", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("state IN ('active', 'stopped', 'done')", name="ck_parapet_escalations_state"),
)
# Overdue steps (the UI's flag, doctor): WHERE state = 'active' AND next_at < now - overdue_after.
Index("ix_parapet_escalations_due", escalations.c.state, escalations.c.next_at)

# Where each notifier target announced each incident: the other side's message id (Slack: channel:ts, updated
# in place), a digest of what was sent last (an identical update is skipped), how often and when (Slack's 2 s
# spacing), ``seq``: the number of the target's current coalescing job for the incident (parapet.notify.outbox), and
# ``busy_until``/``busy_by``: the delivery under way (one at a time per target and incident, so two jobs of one
# incident never both post a first Slack message; a crashed sender's claim expires).
# A row exists from the first notification enqueued; first_sent_at stays NULL until something was delivered.
notifier_messages = Table(
    "parapet_notifier_messages",
    metadata,
    _id(),
    _fk_id("parapet_notifier_messages", "incident_id", "parapet_incidents.id"),
    Column("target", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("external_id", String(255)),
    Column("digest", String(64)),
    Column("sends", Integer, nullable=False),
    Column("first_sent_at", UTCDateTime),
    Column("last_sent_at", UTCDateTime),
    Column("busy_until", UTCDateTime),
    Column("busy_by", String(255)),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("incident_id", "target", name="uq_parapet_notifier_messages_incident_target"),
    **_AUTOINC,
)

TABLES_V3: Final = (jobs, escalations, notifier_messages)
TABLES_BY_VERSION: Final = {1: TABLES_V1, 2: TABLES_V2, 3: TABLES_V3}
TABLES: Final = TABLES_V1 + TABLES_V2 + TABLES_V3
TABLE_NAMES: Final = frozenset(t.name for t in TABLES)

_DIALECTS: Final[dict[str, Dialect]] = {
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.dialect(),  # type: ignore[no-untyped-call]
}
DIALECTS: Final = tuple(_DIALECTS)


def is_spine_name(name: str | None) -> bool:
    """True for the spine's tables (and the names of their indexes and constraints)."""
    return name is not None and name.startswith(TABLE_PREFIX)


def _tables(version: int | None) -> list[Table]:
    wanted = TABLES if version is None else TABLES_BY_VERSION[version]
    return [t for t in metadata.sorted_tables if t in wanted]


def ddl(dialect: str, version: int | None = None) -> list[str]:
    """The canonical CREATE TABLE / CREATE INDEX statements for ``sqlite`` or ``postgresql``, in order:
    the tables schema ``version`` added (1, 2, 3), or every table (None)."""
    target = _DIALECTS[dialect]
    out: list[str] = []
    for table in _tables(version):
        out.append(_tidy(CreateTable(table).compile(dialect=target)))
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            out.append(_tidy(CreateIndex(index).compile(dialect=target)))
    return out


def _tidy(compiled: object) -> str:
    return "\n".join(line.rstrip() for line in str(compiled).strip().splitlines())


def drop_ddl(dialect: str, version: int | None = None) -> list[str]:
    """DROP TABLE statements of schema ``version``'s tables (None: all), children first."""
    target = _DIALECTS[dialect]
    return [str(DropTable(t).compile(dialect=target)).strip() for t in reversed(_tables(version))]
