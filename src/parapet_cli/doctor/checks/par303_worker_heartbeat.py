"""PAR303: a process runs the intake's background loops (a recent worker heartbeat in the store)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime

from parapet import conventions
from parapet_cli.doctor.checks.par301_store import STORE_PACKAGE, migrated_store, store_shipped
from parapet_cli.doctor.context import Context
from parapet_cli.doctor.findings import Finding, Severity
from parapet_cli.doctor.registry import THIS, check

ENV_URL = conventions.DATABASE_URL_ENV


@check(
    "PAR303",
    "worker-heartbeat",
    title="No worker heartbeat: the reconciler and staleness loops do not run",
    severity=Severity.WARNING,
    fix=(
        "Run `parapet worker` beside the app (a mounted app gets no lifespan from its host), or `parapet serve` "
        "without --no-worker; see docs/operating.md."
    ),
)
def worker_heartbeat(ctx: Context) -> Iterator[Finding]:
    """Silenced alerts never send "resolved" (Alertmanager #226): without the reconciler (or, without
    alertmanager.url, the staleness marks) their incidents stay open unnoticed. The loops run in `parapet worker`
    or in `parapet serve`, never in a host that only mounts the app, and every such process writes a heartbeat to
    the store. When a database URL is configured (PARAPET_DATABASE_URL), the check reads the newest heartbeat;
    an unreachable or unmigrated store is PAR301's to report."""
    if not store_shipped():
        return
    raw = os.environ.get(ENV_URL, "")
    if not raw:
        yield Finding(
            THIS,
            Severity.INFO,
            f"skipped: no database URL configured ({ENV_URL}), so no worker heartbeat was looked for",
            f"set {ENV_URL} where doctor runs to check for one",
            subject="no database url",
        )
        return
    worker = importlib.import_module("parapet.alerts.worker")
    store_cls = importlib.import_module(f"{STORE_PACKAGE}.store").Store
    with migrated_store(raw) as engine:
        if engine is None:
            return
        seen: datetime | None = worker.last_heartbeat(store_cls(engine))
    if seen is None:
        yield Finding(
            THIS,
            Severity.WARNING,
            "no worker heartbeat in the store: no process has run the reconciler or the staleness marks",
            "run `parapet worker` (or `parapet serve`, which runs the loops itself)",
            subject="no heartbeat",
        )
        return
    age = datetime.now(UTC) - seen
    if age > worker.HEARTBEAT_STALE:
        yield Finding(
            THIS,
            Severity.WARNING,
            f"the last worker heartbeat is {int(age.total_seconds())}s old ({seen.isoformat(timespec='seconds')}): "
            "the background loops have stopped",
            "restart `parapet worker`, or check the logs of the process that ran it",
            subject="stale heartbeat",
        )
