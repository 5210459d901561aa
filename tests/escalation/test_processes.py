"""Escalation across real OS processes: 2 nodes x 3 worker processes on PostgreSQL, 3 on SQLite, incidents
opening over a few seconds with tiers due 0 s, 2 s and 4 s after, some acknowledged while their steps are due or
running, and worker processes killed with SIGKILL while they hold a step: every step runs exactly once (one
"escalated" entry per incident, epoch and tier), at most 2 s late at the 99th percentile, and nothing is
notified at an epoch that is still current after an acknowledgement."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from parapet.escalation import install
from parapet.evidence import Alert, Store
from parapet.evidence.schema import escalations, jobs, timeline_entries
from tests.escalation.conftest import load
from tests.escalation.fleet import Fleet, fleet
from tests.evidence.conftest import Database

SPEC = """\
escalation:
  policies:
    - name: mp
      tiers:
        - {after: 0s, notify: [first]}
        - {after: 2s, notify: [second, third]}
        - {after: 4s, notify: [fourth]}
"""
SLOW_EVERY = 20  # steps of these incidents hold their job 0.8 s (tests.escalation.proc): a kill lands mid-step
ACK_EVERY = 10


@dataclass
class Run:
    ids: list[int]
    acked: dict[int, datetime]
    killed: list[str]
    entries: list[Any]
    rows: dict[int, Any]
    jobs: list[Any]
    notify: list[Any]


def _kill_holders(engine: Engine, f: Fleet, kills: int, until: float) -> list[str]:
    """SIGKILL ``kills`` processes, each while it holds a slow step; start a new one on its node each time."""
    killed: list[str] = []
    while len(killed) < kills and time.monotonic() < until:
        with engine.connect() as conn:
            running = conn.execute(
                select(jobs.c.lease_holder, jobs.c.payload).where(
                    jobs.c.state == "running", jobs.c.kind == "escalate", jobs.c.attempts == 1
                )
            ).all()
        holders = [r.lease_holder for r in running if r.payload["incident_id"] % SLOW_EVERY == 0]
        holders = [h for h in holders if h in f.procs]
        if holders:
            f.kill(holders[0])
            killed.append(holders[0])
            node, n, _ = holders[0].split(":")
            f.start(node, int(n), wait=False)
            time.sleep(0.3)
        time.sleep(0.02)
    return killed


def _run(db: Database, tmp_path: Path, nodes: dict[str, int], n: int, kills: int, over_s: float = 3.0) -> Run:
    engine = db.create_all()
    install(load(tmp_path, SPEC))
    store = Store(engine)
    acked: dict[int, datetime] = {}
    try:
        with fleet(db.url, tmp_path, nodes, ESCALATION_SLOW_EVERY=SLOW_EVERY) as f:
            ids: list[int] = []

            def open_all() -> None:
                start = time.monotonic()
                for i in range(n):
                    alert = Alert(correlation_key=f"mp-{i}", alert_name="Burn", severity="critical", title=f"mp {i}")
                    ids.append(store.open_or_touch(alert).incident.id)
                    time.sleep(max(0.0, start + over_s * (i + 1) / n - time.monotonic()))
                # acknowledge every tenth one while its later tiers are due or running
                for incident in ids[3::ACK_EVERY]:
                    store.acknowledge(incident, actor="rita")
                    acked[incident] = store.clock()
                    time.sleep(0.05)

            opener = threading.Thread(target=open_all)
            opener.start()
            killed = _kill_holders(engine, f, kills, time.monotonic() + over_s + 7)
            opener.join()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    left = conn.execute(
                        select(func.count())
                        .select_from(jobs)
                        .where(jobs.c.kind == "escalate", jobs.c.state.in_(("pending", "running")))
                    ).scalar_one()
                if not left:
                    break
                time.sleep(0.2)
        with engine.connect() as conn:
            entries = conn.execute(select(timeline_entries).where(timeline_entries.c.kind == "escalated")).all()
            rows = {r.incident_id: r for r in conn.execute(select(escalations))}
            steps = conn.execute(select(jobs).where(jobs.c.kind == "escalate")).all()
            notify = conn.execute(select(jobs).where(jobs.c.kind == "notify")).all()
    finally:
        install(None)
        engine.dispose()
    return Run(ids, acked, killed, list(entries), rows, list(steps), list(notify))


def _p(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def _check(run: Run, n: int, kills: int) -> list[float]:
    assert len(run.ids) == n and len(run.killed) == kills, run.killed
    assert {j.state for j in run.jobs} == {"done"}, [
        (j.key, j.state, j.last_error) for j in run.jobs if j.state != "done"
    ]
    assert any(j.attempts > 1 for j in run.jobs), "no step was taken over: the kills did not land mid-step"
    seen: dict[tuple[int, int, int, int], int] = {}
    for e in run.entries:
        key = (e.incident_id, e.data["epoch"], e.data["tier"], e.data["repeat"])
        seen[key] = seen.get(key, 0) + 1
    assert set(seen.values()) == {1}, {k: v for k, v in seen.items() if v > 1}
    for incident in run.ids:
        tiers = sorted(t for (i, _, t, _) in seen if i == incident)
        row = run.rows[incident]
        assert row.executed == len(tiers)
        if incident in run.acked:
            assert tiers == [0, 1, 2][: len(tiers)] and row.epoch == 2 and row.state == "stopped"
            assert {e for (i, e, _, _) in seen if i == incident} <= {1}
        else:
            assert tiers == [0, 1, 2] and row.state == "done", (incident, tiers)
    # no notification is current after an acknowledgement: each carries the epoch its step ran at, now stale
    epochs = {i: r.epoch for i, r in run.rows.items()}
    for job in run.notify:
        incident = job.payload["incident_id"]
        if incident in run.acked:
            assert job.payload["epoch"] < epochs[incident]
    assert len(run.notify) == sum(2 if t == 1 else 1 for (_, _, t, _) in seen)
    lateness = sorted((e.at - datetime.fromisoformat(e.data["due_at"])).total_seconds() for e in run.entries)
    p99 = _p(lateness, 0.99)
    figures = f"p50 {_p(lateness, 0.5):.2f} s, max {lateness[-1]:.2f} s, load average {os.getloadavg()[0]:.1f}"
    assert p99 <= 2.0, f"p99 lateness {p99:.2f} s ({figures})"
    return lateness


def test_two_nodes_of_three_processes_on_postgresql(postgres_db: Database, tmp_path: Path) -> None:
    n = 200
    run = _run(postgres_db, tmp_path, {"node-a": 3, "node-b": 3}, n, kills=2)
    _check(run, n, kills=2)
    ran = [j for j in run.jobs if (j.result or {}).get("ran")]
    assert {j.lease_holder.split(":")[0] for j in ran} == {"node-a", "node-b"}  # both nodes ran steps


def test_three_processes_on_sqlite(sqlite_db: Database, tmp_path: Path) -> None:
    """One node (SQLite is one machine's store): its writers take turns, so fewer incidents over longer."""
    n = 100
    run = _run(sqlite_db, tmp_path, {"node-a": 3}, n, kills=1, over_s=15.0)
    _check(run, n, kills=1)
