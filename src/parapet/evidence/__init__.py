"""The evidence spine: incidents, their timelines and tool audits, in the host's own database.

schema    SQLAlchemy Core tables, the same on SQLite and PostgreSQL; ``ddl()`` for plain SQL
db        database URL (``PARAPET_DATABASE_URL``, default ``.parapet/parapet.db``), engine, masked URLs
store     the store and operator API: open-or-touch, acknowledge, resolve, reopen, note, actions, queue
retrospective  the Markdown review of one incident: timeline, actors, time to acknowledge and resolve
archive   archive resolved incidents past retention to JSON Lines, delete them, prune system events
alembic   the ``include_name`` filter a host's Alembic env.py uses to leave Parapet's tables alone

from parapet.evidence import Alert, Store, create_engine_for, resolve_url
store = Store(create_engine_for(resolve_url()))
touch = store.open_or_touch(Alert(correlation_key="api/HighErrorRate", alert_name="HighErrorRate",
                                  severity="critical", title="API error rate"))
store.acknowledge(touch.incident.id, actor="alice", expected_version=touch.incident.version)
"""

from __future__ import annotations

from parapet.evidence.db import (
    ENV_URL,
    DatabaseUnavailable,
    DatabaseUrlError,
    SpineMissing,
    check_schema,
    create_engine_for,
    mask_url,
    resolve_url,
)
from parapet.evidence.schema import ACTIVE_STATES, STATES, TABLE_NAMES, metadata
from parapet.evidence.store import (
    ActiveIncidentExists,
    Alert,
    AlertInstance,
    EvidenceError,
    IllegalTransition,
    Incident,
    IncidentLink,
    IncidentNotFound,
    InvalidQuery,
    QueuePage,
    StaleVersion,
    StateCount,
    Store,
    SystemEvent,
    TimelineEntry,
    TimelinePage,
    ToolAudit,
    Touch,
)

__all__ = [
    "ACTIVE_STATES",
    "ENV_URL",
    "STATES",
    "TABLE_NAMES",
    "ActiveIncidentExists",
    "Alert",
    "AlertInstance",
    "DatabaseUnavailable",
    "DatabaseUrlError",
    "EvidenceError",
    "IllegalTransition",
    "Incident",
    "IncidentLink",
    "IncidentNotFound",
    "InvalidQuery",
    "QueuePage",
    "SpineMissing",
    "StaleVersion",
    "StateCount",
    "Store",
    "SystemEvent",
    "TimelineEntry",
    "TimelinePage",
    "ToolAudit",
    "Touch",
    "check_schema",
    "create_engine_for",
    "mask_url",
    "metadata",
    "resolve_url",
]
