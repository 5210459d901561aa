"""The background loops of the intake, and the heartbeat that shows they run.

    reconcile   with ``alertmanager.url`` in the spec: read Alertmanager's ``/api/v2/alerts`` (silenced and
                inhibited alerts included) and resolve, as ``system:reconciler``, the firing instances it no
                longer has (silenced alerts never send "resolved": Alertmanager #226); an incident all of
                whose instances are resolved resolves too. A failed read resolves nothing.
    staleness   without it: mark firing instances not repeated for 3 x ``repeat_interval`` stale (timeline
                "instance_stale"); never resolve them. A later repeat clears the mark.
    heartbeat   every process running the loops upserts its row in ``parapet_workers``; ``parapet doctor``
                warns when none is recent.

No state lives in memory: each loop's next due time and lease are a row of ``parapet_loops``, claimed with
a conditional UPDATE, so any number of processes (``parapet worker``, ``parapet serve``, a host's lifespan
hook) can run them and each run happens once per interval across all of them.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from parapet.alerts.intake import entry, resolve_finished
from parapet.alerts.payload import PayloadError, parse_time
from parapet.evidence.schema import (
    INSTANCE_FIRING,
    INSTANCE_RESOLVED,
    alert_instances,
    incidents,
    loops,
    timeline_entries,
    workers,
)
from parapet.evidence.store import Store
from parapet.spec.model import AlertmanagerSettings, Spec

SYSTEM_RECONCILER: Final = "system:reconciler"
SYSTEM_STALENESS: Final = "system:parapet:staleness"
RECONCILE: Final = "reconcile"
STALENESS: Final = "staleness"
STALE_AFTER_REPEATS: Final = 3
HEARTBEAT_EVERY: Final = timedelta(seconds=15)
# A heartbeat older than this means no worker runs (doctor's check, and `parapet worker --check`).
HEARTBEAT_STALE: Final = timedelta(minutes=2)

log = logging.getLogger("parapet.alerts.worker")


@dataclass(frozen=True)
class WorkerConfig:
    alertmanager: AlertmanagerSettings = field(default_factory=AlertmanagerSettings)
    kind: str = "worker"  # "worker", "serve" or "host"
    reconcile_every: timedelta = timedelta(seconds=30)
    staleness_every: timedelta = timedelta(seconds=60)
    lease: timedelta = timedelta(seconds=60)
    # An instance first seen this recently is never reconciled away (its delivery may be in flight).
    grace: timedelta = timedelta(seconds=60)
    tick_s: float = 1.0
    fetch_timeout_s: float = 10.0
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")

    @classmethod
    def from_spec(cls, spec: Spec | None, **kwargs: Any) -> WorkerConfig:
        return cls(alertmanager=spec.alertmanager if spec is not None else AlertmanagerSettings(), **kwargs)


# -- heartbeat and loop leases ------------------------------------------------------------------------


def heartbeat(store: Store, config: WorkerConfig, started_at: datetime) -> None:
    now = store.clock()
    with store.engine.begin() as conn:
        done = conn.execute(update(workers).where(workers.c.worker_id == config.worker_id).values(seen_at=now)).rowcount
        if done:
            return
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(workers).values(
                        worker_id=config.worker_id[:255],
                        hostname=socket.gethostname()[:255],
                        pid=os.getpid(),
                        kind=config.kind,
                        started_at=started_at,
                        seen_at=now,
                    )
                )
        except IntegrityError:
            pass


def last_heartbeat(store: Store) -> datetime | None:
    """The most recent heartbeat of any process running the loops, or None when there was none."""
    with store.engine.connect() as conn:
        value: datetime | None = conn.execute(
            select(workers.c.seen_at).order_by(workers.c.seen_at.desc()).limit(1)
        ).scalar()
        return value


def claim(store: Store, name: str, holder: str, lease: timedelta) -> bool:
    """Take the loop ``name`` when it is due and nobody holds an unexpired lease; True for the winner."""
    now = store.clock()
    with store.engine.begin() as conn:
        taken = conn.execute(
            update(loops)
            .where(
                loops.c.name == name,
                loops.c.due_at <= now,
                or_(loops.c.lease_until.is_(None), loops.c.lease_until < now),
            )
            .values(holder=holder[:255], lease_until=now + lease)
        ).rowcount
        if taken:
            return True
        exists = conn.execute(select(loops.c.name).where(loops.c.name == name)).first()
        if exists is not None:
            return False
        try:
            with conn.begin_nested():
                conn.execute(insert(loops).values(name=name, due_at=now, holder=holder[:255], lease_until=now + lease))
        except IntegrityError:
            return False
        return True


def finish(store: Store, name: str, holder: str, every: timedelta, result: dict[str, Any]) -> None:
    now = store.clock()
    with store.engine.begin() as conn:
        conn.execute(
            update(loops)
            .where(loops.c.name == name, loops.c.holder == holder[:255])
            .values(due_at=now + every, lease_until=None, last_run_at=now, last_result=result)
        )


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


def mark_stale(store: Store, repeat_interval: timedelta) -> dict[str, Any]:
    """Mark firing instances unseen for 3 x repeat_interval stale; one timeline entry per incident."""
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
        if entries:
            conn.execute(insert(timeline_entries), entries)
    return {"stale": len(rows), "incidents": sorted(by_incident)}


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
    store: Store, url: str, *, grace: timedelta, fetch: Fetch = fetch_alerts, timeout: float = 10.0
) -> dict[str, Any]:
    """Resolve, as ``system:reconciler``, firing instances Alertmanager no longer has."""
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
            return {"alertmanager_alerts": len(present), "resolved_instances": 0, "resolved_incidents": []}
        conn.execute(
            update(alert_instances)
            .where(alert_instances.c.id.in_([r.id for r in gone]), alert_instances.c.status == INSTANCE_FIRING)
            .values(status=INSTANCE_RESOLVED, ends_at=now, resolved_at=now, resolved_by=SYSTEM_RECONCILER)
        )
        what = "gone from Alertmanager: resolved"
        by_incident, entries = _per_incident(conn, gone, "instance_resolved", what, SYSTEM_RECONCILER, now)
        resolved = resolve_finished(conn, sorted(by_incident), entries, now, SYSTEM_RECONCILER)
        conn.execute(insert(timeline_entries), entries)
    return {"alertmanager_alerts": len(present), "resolved_instances": len(gone), "resolved_incidents": resolved}


# -- running them -------------------------------------------------------------------------------------


@dataclass
class Worker:
    """One process's share of the loops: ``tick()`` beats and runs what is due; ``run(stop)`` loops."""

    store: Store
    config: WorkerConfig = field(default_factory=WorkerConfig)
    fetch: Fetch = fetch_alerts
    started_at: datetime | None = None
    _last_beat: datetime | None = None

    def tick(self) -> dict[str, Any]:
        now = self.store.clock()
        if self.started_at is None:
            self.started_at = now
        out: dict[str, Any] = {}
        if self._last_beat is None or now - self._last_beat >= HEARTBEAT_EVERY:
            heartbeat(self.store, self.config, self.started_at)
            self._last_beat = now
        am = self.config.alertmanager
        if am.url:
            name, every = RECONCILE, self.config.reconcile_every
        else:
            name, every = STALENESS, self.config.staleness_every
        holder = self.config.worker_id
        if claim(self.store, name, holder, self.config.lease):
            try:
                if am.url:
                    result = reconcile(
                        self.store,
                        am.url,
                        grace=self.config.grace,
                        fetch=self.fetch,
                        timeout=self.config.fetch_timeout_s,
                    )
                else:
                    result = mark_stale(self.store, am.repeat_interval)
            except FetchError as exc:
                log.warning("reconciler: %s (nothing resolved)", exc)
                result = {"error": str(exc)[:500]}
            finish(self.store, name, holder, every, result)
            out[name] = result
        return out

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.tick()
            except SQLAlchemyError as exc:
                log.warning("worker tick failed (database unavailable?): %s", str(exc).splitlines()[0][:300])
            stop.wait(self.config.tick_s)


@asynccontextmanager
async def running_in_background(store: Store, config: WorkerConfig) -> AsyncIterator[Worker]:
    """The loops in a thread for the duration of the block: a host's lifespan hook, or ``parapet serve``'s."""
    worker = Worker(store, config)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name="parapet-worker", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        thread.join(timeout=10)
