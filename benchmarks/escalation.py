"""Escalation on PostgreSQL with 3 worker processes: 500 incidents x 3 tiers (after 0s / 5s / 10s).

    python benchmarks/escalation.py                    # 500 incidents, 3 processes
    python benchmarks/escalation.py --incidents 200 --processes 2 --idle 5

The incidents open as fast as one writer can open them (each in its own transaction, the escalation row and
its first step's job written with it); three ``tests.escalation.proc`` processes run the steps. Printed:

    executions        "escalated" timeline entries written (must be exactly incidents x tiers) and duplicates
                      (an incident, epoch and tier run twice: must be 0)
    lateness          when each step started minus when it was due: p50, p99, max
    idle cost         SQL statements per second of the 3 processes together with nothing due, counted in each
                      process (a SQLAlchemy event), over --idle seconds after the last step

PostgreSQL runs in a schema of its own on the local server (``--postgres-url``), dropped at the end. Targets: every
step exactly once, p99 lateness <= 2 s. The load average is printed too: on a shared 2-core machine it is most of
the lateness.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.escalation.fleet import Fleet  # noqa: E402

from parapet.escalation import install  # noqa: E402
from parapet.evidence import Alert, Store  # noqa: E402
from parapet.evidence.db import create_engine_for  # noqa: E402
from parapet.evidence.schema import jobs, metadata, timeline_entries  # noqa: E402
from parapet.spec import load_spec  # noqa: E402

SPEC = """\
version: parapet/v1
service: bench
slos:
  - name: availability
    objective: 99.9
    alerting:
      runbook_url: https://runbooks.example.com/availability
    sli:
      http: {}
escalation:
  policies:
    - name: bench
      tiers:
        - {after: 0s, notify: [oncall]}
        - {after: 5s, notify: [lead]}
        - {after: 10s, notify: [head]}
"""
TIERS = 3


def _p(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def _statements(fleet: Fleet) -> int:
    total = 0
    for path in fleet.counts.values():
        total += int(json.loads(path.read_text())["statements"]) if path.exists() else 0
    return total


def run(url: str, incidents: int, processes: int, idle_s: float, folder: Path) -> dict[str, float | int]:
    engine = create_engine_for(url)
    metadata.create_all(engine)
    spec_path = folder / "parapet.yaml"
    spec_path.write_text(SPEC)
    install(load_spec(spec_path))
    store = Store(engine)
    fleet = Fleet(url, folder)
    try:
        fleet.ready([fleet.start("bench", n, count=True, wait=False) for n in range(processes)])
        started = time.monotonic()
        for i in range(incidents):
            store.open_or_touch(Alert(correlation_key=f"bench-{i}", alert_name="Burn", severity="page", title=f"{i}"))
        opened_s = time.monotonic() - started
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                left = conn.execute(
                    select(func.count())
                    .select_from(jobs)
                    .where(jobs.c.kind == "escalate", jobs.c.state.in_(("pending", "running")))
                ).scalar_one()
            if not left:
                break
            time.sleep(0.5)
        finished_s = time.monotonic() - started
        time.sleep(1.0)  # the last samples of the busy period are written
        before, t0 = _statements(fleet), time.monotonic()
        time.sleep(idle_s)
        after, t1 = _statements(fleet), time.monotonic()
    finally:
        fleet.stop()
        install(None)
    with engine.connect() as conn:
        entries = conn.execute(
            select(timeline_entries.c.incident_id, timeline_entries.c.at, timeline_entries.c.data).where(
                timeline_entries.c.kind == "escalated"
            )
        ).all()
    engine.dispose()
    keys = [(e.incident_id, e.data["epoch"], e.data["tier"]) for e in entries]
    lateness = sorted((e.at - datetime.fromisoformat(e.data["due_at"])).total_seconds() for e in entries)
    return {
        "executions": len(entries),
        "expected": incidents * TIERS,
        "duplicates": len(keys) - len(set(keys)),
        "p50": _p(lateness, 0.5),
        "p99": _p(lateness, 0.99),
        "max": lateness[-1] if lateness else float("nan"),
        "opened_s": opened_s,
        "finished_s": finished_s,
        "idle_qps": (after - before) / (t1 - t0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of nothing due to count statements over")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("PARAPET_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    schema = f"parapet_bench_esc_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    load_before = os.getloadavg()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"{args.postgres_url}?options={quote(f'-csearch_path={schema}')}&application_name={schema}"
            out = run(url, args.incidents, args.processes, args.idle, Path(tmp))
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"),
                {"n": schema},
            )
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    load_after = os.getloadavg()
    rows = [
        ("incidents x tiers", f"{args.incidents} x {TIERS} (after 0s / 5s / 10s)"),
        ("worker processes", f"{args.processes} (PostgreSQL)"),
        ("executions", f"{out['executions']:,} (expected {out['expected']:,})"),
        ("duplicates", f"{out['duplicates']}"),
        ("lateness p50", f"{out['p50']:.3f} s"),
        ("lateness p99", f"{out['p99']:.3f} s"),
        ("lateness max", f"{out['max']:.3f} s"),
        ("incidents opened in", f"{out['opened_s']:.1f} s"),
        ("last step done after", f"{out['finished_s']:.1f} s"),
        (f"idle cost ({args.processes} processes)", f"{out['idle_qps']:.2f} statements/s over {args.idle:.0f} s"),
        ("load average", f"{load_before[0]:.1f} before, {load_after[0]:.1f} after"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'measure'.ljust(width)}  value")
    print(f"{'-' * width}  {'-' * 40}")
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    ok = out["executions"] == out["expected"] and out["duplicates"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
