"""The background loops of the intake, as periodic jobs of the work engine (``parapet.work``).

    reconcile   with ``alertmanager.url`` in the spec, every 30 s: read Alertmanager's ``/api/v2/alerts``
                (silenced and inhibited alerts included) and resolve, as ``system:reconciler``, the firing instances
                it no longer has (silenced alerts never send "resolved": Alertmanager #226); an incident all of whose
                instances are resolved resolves too. A failed read resolves nothing.
    staleness   without it, every 60 s: mark firing instances not repeated for 3 x ``repeat_interval`` stale
                (timeline "instance_stale"); never resolve them. A later repeat clears the mark.
    heartbeat   every process running the work engine upserts its row in ``parapet_workers``; ``parapet doctor``
                warns when none is recent.

No state lives in memory: each run is the job of one slot (``reconcile@<epoch>``), claimed by one process, and
its writes commit in the transaction that completes the job, so each slot runs once across any number of
processes (``parapet worker``, ``parapet serve``, a host's lifespan hook). ``parapet_loops``, where the loops
kept their due times before the work engine, stays in the schema for compatibility and is no longer written.

``Worker`` and ``running_in_background`` are the intake's face of the engine: a ``parapet.work.Worker`` that runs
every registered job kind, these loops included, with ``WorkerConfig``'s knobs in ``ctx.options``.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Connection

from parapet import work
from parapet.alerts.intake import entry, resolve_finished
from parapet.alerts.payload import PayloadError, parse_time
from parapet.evidence.hooks import write_entries
from parapet.evidence.schema import (
    INSTANCE_FIRING,
    INSTANCE_RESOLVED,
    alert_instances,
    incidents,
    workers,
)
from parapet.evidence.store import Store
from parapet.spec.model import AlertmanagerSettings, Spec
from parapet.work import registry
from parapet.work.worker import default_worker_id

SYSTEM_RECONCILER: Final = "system:reconciler"
SYSTEM_STALENESS: Final = "system:parapet:staleness"
RECONCILE: Final = "reconcile"
STALENESS: Final = "staleness"
RECONCILE_EVERY: Final = timedelta(seconds=30)
STALENESS_EVERY: Final = timedelta(seconds=60)
LOOP_LEASE: Final = timedelta(seconds=60)
STALE_AFTER_REPEATS: Final = 3
# ctx.options keys: the WorkerConfig and the Alertmanager reader the loops use
CONFIG_OPTION: Final = "alerts.config"
FETCH_OPTION: Final = "alerts.fetch"
# A heartbeat older than this means no worker runs (doctor's check, and `parapet worker --check`).
HEARTBEAT_STALE: Final = timedelta(minutes=2)

log = logging.getLogger("parapet.alerts.worker")


@dataclass(frozen=True)
class WorkerConfig:
    """The loops' knobs that are not in the spec, and who runs them (``kind``: "worker", "serve" or "host")."""

    alertmanager: AlertmanagerSettings = field(default_factory=AlertmanagerSettings)
    kind: str = "worker"
    # An instance first seen this recently is never reconciled away (its delivery may be in flight).
    grace: timedelta = timedelta(seconds=60)
    fetch_timeout_s: float = 10.0
    worker_id: str = field(default_factory=default_worker_id)

    @classmethod
    def from_spec(cls, spec: Spec | None, **kwargs: Any) -> WorkerConfig:
        return cls(alertmanager=spec.alertmanager if spec is not None else AlertmanagerSettings(), **kwargs)


# -- heartbeat --------------------------------------------------------------------------------------


def last_heartbeat(store: Store) -> datetime | None:
    """The most recent heartbeat of any process running the loops, or None when there was none."""
    with store.engine.connect() as conn:
        value: datetime | None = conn.execute(
            select(workers.c.seen_at).order_by(workers.c.seen_at.desc()).limit(1)
        ).scalar()
        return value


# -- staleness ----------------------------------------------------------------------------------------


def _per_incident(
    conn: Connection, rows: Sequence[Any], kind: str, what: str, actor: str, now: datetime
) -> tuple[dict[int, list[str]], list[dict[str, Any]]]:
    """Instances (rows with incident_id and fingerprint) grouped by incident: one timeline entry each, and a
    version bump of each incident (an operator's open form must not act on what it did not see)."""
    by_incident: dict[int, list[str]] = defaultdict(list)
    for r in rows:
        by_incident[int(r.incident_id)].append(r.fingerprint)
    entries = [
        entry(
            incident_id,
            kind,
            now,
            f"{len(fps)} alert instance{'s' if len(fps) > 1 else ''} {what}",
            {"fingerprints": fps[:50], "instances": len(fps)},
            actor,
        )
        for incident_id, fps in sorted(by_incident.items())
    ]
    if by_incident:
        conn.execute(
            update(incidents)
            .where(incidents.c.id.in_(sorted(by_incident)))
            .values(version=incidents.c.version + 1, updated_at=now)
        )
    return by_incident, entries


Complete = Callable[[Connection, Mapping[str, Any]], None]


def mark_stale(store: Store, repeat_interval: timedelta, *, complete: Complete | None = None) -> dict[str, Any]:
    """Mark firing instances unseen for 3 x repeat_interval stale; one timeline entry per incident. ``complete``
    (a job's ``ctx.complete``) runs in the same transaction, with the result."""
    now = store.clock()
    cutoff = now - STALE_AFTER_REPEATS * repeat_interval
    with store.engine.begin() as conn:
        rows = conn.execute(
            update(alert_instances)
            .where(
                alert_instances.c.status == INSTANCE_FIRING,
                alert_instances.c.stale_at.is_(None),
                alert_instances.c.last_seen_at < cutoff,
            )
            .values(stale_at=now)
            .returning(alert_instances.c.incident_id, alert_instances.c.fingerprint)
        ).all()
        what = (
            f"not repeated by Alertmanager for {STALE_AFTER_REPEATS} x repeat_interval: stale (silenced, or "
            "Alertmanager lost it); not resolved"
        )
        by_incident, entries = _per_incident(conn, rows, "instance_stale", what, SYSTEM_STALENESS, now)
        write_entries(conn, entries)
        result = {"stale": len(rows), "incidents": sorted(by_incident)}
        if complete is not None:
            complete(conn, result)
    return result


# -- the reconciler -----------------------------------------------------------------------------------


class FetchError(RuntimeError):
    pass


Fetch = Callable[[str, float], list[dict[str, Any]]]


def fetch_alerts(url: str, timeout: float) -> list[dict[str, Any]]:
    """Alertmanager's current alerts (active, silenced, inhibited and unprocessed alike)."""
    target = f"{url}/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true"
    try:
        with urllib.request.urlopen(target, timeout=timeout) as response:  # http(s) only: the spec's pattern
            data = json.loads(response.read(64 * 1024 * 1024))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FetchError(f"cannot read {target}: {exc}") from None
    if not isinstance(data, list):
        raise FetchError(f"{target} did not answer with a list of alerts")
    return [a for a in data if isinstance(a, dict)]


def reconcile(
    store: Store,
    url: str,
    *,
    grace: timedelta,
    fetch: Fetch = fetch_alerts,
    timeout: float = 10.0,
    complete: Complete | None = None,
) -> dict[str, Any]:
    """Resolve, as ``system:reconciler``, firing instances Alertmanager no longer has. ``complete`` (a job's
    ``ctx.complete``) runs in the transaction of the resolutions, with the result."""
    started = store.clock()
    present: set[tuple[str, datetime]] = set()
    for a in fetch(url, timeout):
        try:
            when = parse_time(a.get("startsAt"), "startsAt")
        except PayloadError:
            continue
        if isinstance(a.get("fingerprint"), str) and when is not None:
            present.add((a["fingerprint"], when))
    now = store.clock()
    with store.engine.begin() as conn:
        candidates = conn.execute(
            select(
                alert_instances.c.id,
                alert_instances.c.incident_id,
                alert_instances.c.fingerprint,
                alert_instances.c.starts_at,
            ).where(
                and_(
                    alert_instances.c.status == INSTANCE_FIRING,
                    alert_instances.c.first_seen_at < started - grace,
                )
            )
        ).all()
        gone = [r for r in candidates if (r.fingerprint, r.starts_at) not in present]
        if not gone:
            result = {"alertmanager_alerts": len(present), "resolved_instances": 0, "resolved_incidents": []}
            if complete is not None:
                complete(conn, result)
            return result
        conn.execute(
            update(alert_instances)
            .where(alert_instances.c.id.in_([r.id for r in gone]), alert_instances.c.status == INSTANCE_FIRING)
            .values(status=INSTANCE_RESOLVED, ends_at=now, resolved_at=now, resolved_by=SYSTEM_RECONCILER)
        )
        what = "gone from Alertmanager: resolved"
        by_incident, entries = _per_incident(conn, gone, "instance_resolved", what, SYSTEM_RECONCILER, now)
        resolved = resolve_finished(conn, sorted(by_incident), entries, now, SYSTEM_RECONCILER)
        write_entries(conn, entries)
        result = {"alertmanager_alerts": len(present), "resolved_instances": len(gone), "resolved_incidents": resolved}
        if complete is not None:
            complete(conn, result)
    return result


# -- the periodic jobs ------------------------------------------------------------------------------


def _config(settings: Any, options: Mapping[str, Any]) -> WorkerConfig:
    given = options.get(CONFIG_OPTION)
    return given if isinstance(given, WorkerConfig) else WorkerConfig.from_spec(settings)


def _reconciles(worker: work.Worker) -> bool:
    return bool(_config(worker.settings, worker.options).alertmanager.url)


def _marks_stale(worker: work.Worker) -> bool:
    return not _reconciles(worker)


@work.periodic(RECONCILE, every=RECONCILE_EVERY, when=_reconciles, lease=LOOP_LEASE)
def reconcile_job(ctx: work.JobContext) -> Mapping[str, Any] | None:
    config = _config(ctx.settings, ctx.options)
    fetch: Fetch = ctx.options.get(FETCH_OPTION) or fetch_alerts
    store = Store(ctx.engine, clock=ctx.clock)
    try:
        return reconcile(
            store,
            config.alertmanager.url or "",
            grace=config.grace,
            fetch=fetch,
            timeout=config.fetch_timeout_s,
            complete=ctx.complete,
        )
    except FetchError as exc:
        log.warning("reconciler: %s (nothing resolved)", exc)
        return {"error": str(exc)[:500]}


@work.periodic(STALENESS, every=STALENESS_EVERY, when=_marks_stale, lease=LOOP_LEASE)
def staleness_job(ctx: work.JobContext) -> Mapping[str, Any] | None:
    config = _config(ctx.settings, ctx.options)
    return mark_stale(Store(ctx.engine, clock=ctx.clock), config.alertmanager.repeat_interval, complete=ctx.complete)


# -- running them -------------------------------------------------------------------------------------


class Worker:
    """The work engine of one process, with the loops' knobs: ``tick()`` runs what is due (every job kind, these
    loops included) and returns the loops' results by name; ``run(stop)`` loops."""

    def __init__(
        self,
        store: Store,
        config: WorkerConfig | None = None,
        *,
        spec: Spec | None = None,
        fetch: Fetch = fetch_alerts,
        **options: Any,
    ) -> None:
        self.store = store
        self.config = config or WorkerConfig.from_spec(spec)
        registry.install_subscribers(spec)  # what this process writes enqueues its parts' jobs
        self.engine = work.Worker(
            store.engine,
            settings=spec,
            worker_id=self.config.worker_id,
            kind=self.config.kind,
            clock=store.clock,
            options={CONFIG_OPTION: self.config, FETCH_OPTION: fetch},
            **options,
        )

    def tick(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for outcome in self.engine.run_once():
            name = outcome.job.payload.get("periodic")
            if name in (RECONCILE, STALENESS) and outcome.outcome == "done":
                out[str(name)] = dict(outcome.result or {})
        return out

    def run(self, stop: threading.Event) -> None:
        self.engine.run(stop)


@asynccontextmanager
async def running_in_background(
    store: Store, config: WorkerConfig, *, spec: Spec | None = None
) -> AsyncIterator[Worker]:
    """The work engine (these loops and every other job kind) in a thread for the duration of the block: a host's
    lifespan hook, or ``parapet serve``'s. Pass the loaded ``spec``: handlers read their settings from it."""
    worker = Worker(store, config, spec=spec)
    async with work.running_in_background(worker.engine):
        yield worker
