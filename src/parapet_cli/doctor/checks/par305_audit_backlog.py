"""PAR305: audit events wait for a sink for more than five minutes (the sink is down, refusing, or unset)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime

from parapet import conventions
from parapet_cli.doctor.checks.par301_store import migrated_store, store_shipped
from parapet_cli.doctor.context import Context
from parapet_cli.doctor.findings import Finding, Severity
from parapet_cli.doctor.registry import THIS, check

ENV_URL = conventions.DATABASE_URL_ENV


@check(
    "PAR305",
    "audit-backlog",
    title="Audit events wait for a sink",
    severity=Severity.WARNING,
    fix=(
        "Bring the sink back (or fix its secret: PAR209); the events are kept and delivered when it answers. "
        "See docs/audit.md."
    ),
)
def audit_backlog(ctx: Context) -> Iterator[Finding]:
    """Audit events are queued with the action and retried until their sink takes them, so a sink that is down
    loses nothing; but the compliance copy falls behind, and under ``sink_only`` the queue is the only copy
    meanwhile. The check counts the events older than five minutes still waiting (with PARAPET_DATABASE_URL set;
    an unreachable or unmigrated store is PAR301's to report)."""
    if not store_shipped():
        return
    raw = os.environ.get(ENV_URL, "")
    if not raw:
        return
    with migrated_store(raw) as engine:
        if engine is None:
            return
        outbox = importlib.import_module("parapet.audit.outbox")
        with engine.connect() as conn:
            count, oldest = outbox.backlog(conn, datetime.now(UTC))
    if count:
        since = oldest.isoformat(timespec="seconds") if oldest is not None else "?"
        yield Finding(
            THIS,
            Severity.WARNING,
            f"{count} audit event(s) have waited for a sink for more than 5 minutes (the oldest since {since})",
            "check the sink (the job's last error on /parapet/admin/jobs says why), then let the worker deliver",
            subject="audit backlog",
        )
