"""The evidence spine's tables, in SQLAlchemy Core, identical on SQLite and PostgreSQL.

    parapet_incidents         one row per incident; a partial unique index keeps one non-resolved incident
                              per correlation key; ``version`` is bumped by every write (optimistic concurrency)
    parapet_timeline_entries  what happened to an incident, in order (kind, actor, time, message, data)
    parapet_tool_audits       every runbook or tool action: parameters, outcome, start, finish, error
    parapet_action_claims     one claim per (incident, action kind, action key): "exactly one node acts"
    parapet_system_events     deploys, feature-flag changes; pruned after a retention (7 days by default)

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

SCHEMA_VERSION: Final = 1
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

TABLES: Final = (incidents, timeline_entries, tool_audits, action_claims, system_events)
TABLE_NAMES: Final = frozenset(t.name for t in TABLES)

_DIALECTS: Final[dict[str, Dialect]] = {
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.dialect(),  # type: ignore[no-untyped-call]
}
DIALECTS: Final = tuple(_DIALECTS)


def is_spine_name(name: str | None) -> bool:
    """True for the spine's tables (and the names of their indexes and constraints)."""
    return name is not None and name.startswith(TABLE_PREFIX)


def ddl(dialect: str) -> list[str]:
    """The canonical CREATE TABLE / CREATE INDEX statements for ``sqlite`` or ``postgresql``, in order."""
    target = _DIALECTS[dialect]
    out: list[str] = []
    for table in metadata.sorted_tables:
        out.append(_tidy(CreateTable(table).compile(dialect=target)))
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            out.append(_tidy(CreateIndex(index).compile(dialect=target)))
    return out


def _tidy(compiled: object) -> str:
    return "\n".join(line.rstrip() for line in str(compiled).strip().splitlines())


def drop_ddl(dialect: str) -> list[str]:
    """DROP TABLE statements, children first (indexes go with their tables)."""
    target = _DIALECTS[dialect]
    return [str(DropTable(t).compile(dialect=target)).strip() for t in reversed(metadata.sorted_tables)]
