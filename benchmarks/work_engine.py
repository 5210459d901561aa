"""The work engine across 3 worker processes: N jobs due at once, and the cost of polling with nothing due.

    python benchmarks/work_engine.py                    # SQLite and PostgreSQL, 1,000 jobs each
    python benchmarks/work_engine.py --jobs 300 --only postgresql

For each backend (a fresh SQLite file; a private schema on the local PostgreSQL, dropped at the end):

    idle      3 processes run the engine with nothing due for --idle seconds: SQL statements per second per
              process (counted by each process on its own engine; heartbeats included)
    burst     N jobs due at the same instant, 3 processes of 4 handler threads: executions (rows the handler wrote
              in the transaction that completed its job: must equal N), lateness (completion - due) p50 / p99 /
              max, and throughput (N / time from the due instant to the last completion)
    failover  (PostgreSQL: 2 nodes x 3 processes; SQLite: 3 processes) --spread jobs due evenly over 12 s, each a
              0.2 s step with a 1 s lease; while they run, 2 processes holding a job are killed with SIGKILL (1 on
              SQLite): executions, the steps taken over from a killed process, lateness p50 / p99 / max

Each process is this script run again (``--child``), so each has its own interpreter, engine and connections,
like a `parapet worker`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, event, func, insert, select, text  # noqa: E402

from parapet.evidence.db import create_engine_for  # noqa: E402
from parapet.evidence.schema import UTCDateTime, jobs, metadata  # noqa: E402
from parapet.work import JobContext, Worker, enqueue, handler  # noqa: E402

KIND = "bench_step"
SLOW = "bench_failover_step"
PROCESSES = 3
STEP_S = 0.2
bench_meta = MetaData()
steps = Table(
    "bench_work_steps",
    bench_meta,
    Column("id", Integer, primary_key=True),
    Column("key", String(255), nullable=False),
    Column("completed_at", UTCDateTime, nullable=False),
)


@handler(KIND, lease=timedelta(seconds=10))
def step(ctx: JobContext) -> Mapping[str, Any] | None:
    with ctx.engine.begin() as conn:
        conn.execute(insert(steps).values(key=ctx.job.key, completed_at=ctx.now()))
        ctx.complete(conn)
    return None


@handler(SLOW, lease=timedelta(seconds=1))
def slow_step(ctx: JobContext) -> Mapping[str, Any] | None:
    time.sleep(STEP_S)
    with ctx.engine.begin() as conn:
        conn.execute(insert(steps).values(key=f"{ctx.job.key}#{ctx.job.attempts}", completed_at=ctx.now()))
        ctx.complete(conn)
    return None


# -- a worker process ----------------------------------------------------------------------------------


def child(url: str, worker_id: str, counts: Path) -> int:
    engine = create_engine_for(url)
    statements = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def count(*_args: Any) -> None:
        statements[0] += 1

    worker = Worker(engine, worker_id=worker_id, kinds=[KIND, SLOW], concurrency=4)
    stop = threading.Event()

    def on_term(_signum: int, _frame: Any) -> None:
        stop.set()
        worker.wake()

    signal.signal(signal.SIGTERM, on_term)

    def report() -> None:
        while not stop.wait(0.25):
            tmp = counts.with_suffix(".tmp")
            tmp.write_text(json.dumps({"t": time.monotonic(), "n": statements[0]}))
            tmp.replace(counts)

    threading.Thread(target=report, daemon=True).start()
    worker.run(stop)
    engine.dispose()
    return 0


# -- the parent -----------------------------------------------------------------------------------------


@contextmanager
def processes(url: str, workdir: Path, nodes: int = 1, procs_out: dict[str, Any] | None = None) -> Iterator[list[Path]]:
    """PROCESSES worker processes per node; each node's processes share a process group."""
    procs, files = [], []
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for node in range(nodes):
        group = 0
        for n in range(PROCESSES):
            worker_id = f"node-{node}:{n}"
            counts = workdir / f"counts-{node}-{n}.json"
            files.append(counts)
            proc = subprocess.Popen(
                [sys.executable, __file__, "--child", url, worker_id, str(counts)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                process_group=group,
            )
            group = group or proc.pid
            procs.append(proc)
            if procs_out is not None:
                procs_out[worker_id] = proc
    try:
        deadline = time.monotonic() + 60
        while not all(f.exists() for f in files):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit("a worker process did not start")
            time.sleep(0.1)
        yield files
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def _read(path: Path) -> tuple[float, int]:
    body = json.loads(path.read_text())
    return float(body["t"]), int(body["n"])


def idle_rate(files: list[Path], seconds: float) -> float:
    time.sleep(2.0)  # past start-up (heartbeat, first probe)
    before = [_read(f) for f in files]
    start = time.monotonic()
    time.sleep(max(0.0, seconds - (time.monotonic() - start)))
    after = [_read(f) for f in files]
    rates = [(n1 - n0) / (t1 - t0) for (t0, n0), (t1, n1) in zip(before, after, strict=True)]
    return sum(rates) / len(rates)


def burst(url: str, n: int) -> dict[str, float]:
    engine = create_engine_for(url)
    due = datetime.now(UTC) + timedelta(seconds=2)
    with engine.begin() as conn:
        for i in range(n):
            enqueue(conn, KIND, f"burst-{i:05d}", due_at=due)
    deadline = time.monotonic() + 120 + n / 10
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            left = conn.execute(
                select(func.count()).select_from(jobs).where(jobs.c.kind == KIND, jobs.c.state != "done")
            ).scalar_one()
        if not left:
            break
        time.sleep(0.2)
    with engine.connect() as conn:
        rows = conn.execute(select(steps.c.key, steps.c.completed_at)).all()
    engine.dispose()
    late = sorted((r.completed_at - due).total_seconds() for r in rows)
    last = late[-1] if late else float("nan")
    return {
        "executions": len(rows),
        "distinct": len({r.key for r in rows}),
        "p50": late[len(late) // 2] if late else float("nan"),
        "p99": late[min(len(late) - 1, int(len(late) * 0.99))] if late else float("nan"),
        "max": last,
        "throughput": n / last if late and last > 0 else float("nan"),
    }


def _wait_done(engine: Any, kind: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            left = conn.execute(
                select(func.count()).select_from(jobs).where(jobs.c.kind == kind, jobs.c.state != "done")
            ).scalar_one()
        if not left:
            return
        time.sleep(0.2)


def failover(url: str, n: int, procs: dict[str, Any], kills: int) -> dict[str, float]:
    """n jobs due over 12 s; SIGKILL ``kills`` processes while each holds a job."""
    engine = create_engine_for(url)
    start = datetime.now(UTC) + timedelta(seconds=1)
    due = {f"failover-{i:04d}": start + timedelta(seconds=12) * (i / n) for i in range(n)}
    with engine.begin() as conn:
        for key, at in due.items():
            enqueue(conn, SLOW, key, due_at=at)
    killed = 0
    deadline = time.monotonic() + 13
    while killed < kills and time.monotonic() < deadline:
        with engine.connect() as conn:
            holders = list(
                conn.execute(
                    select(jobs.c.lease_holder).where(jobs.c.kind == SLOW, jobs.c.state == "running")
                ).scalars()
            )
        victim = next((h for h in holders if h in procs and procs[h].poll() is None), None)
        if victim is not None:
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait(10)
            killed += 1
            time.sleep(2.0)
        time.sleep(0.02)
    _wait_done(engine, SLOW, 60)
    with engine.connect() as conn:
        rows = conn.execute(select(steps.c.key, steps.c.completed_at).where(steps.c.key.like("failover-%"))).all()
    engine.dispose()
    keys = [r.key.split("#")[0] for r in rows]
    late = sorted((r.completed_at - due[r.key.split("#")[0]]).total_seconds() for r in rows)
    return {
        "executions": len(rows),
        "distinct": len(set(keys)),
        "taken_over": sum(1 for r in rows if not r.key.endswith("#1")),
        "killed": killed,
        "p50": late[len(late) // 2] if late else float("nan"),
        "p99": late[min(len(late) - 1, int(len(late) * 0.99))] if late else float("nan"),
        "max": late[-1] if late else float("nan"),
    }


@contextmanager
def store(backend: str, workdir: Path, postgres_url: str) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
        engine = create_engine_for(url)
        metadata.create_all(engine)
        bench_meta.create_all(engine)
        engine.dispose()
        yield url
        return
    schema = f"parapet_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{postgres_url}?options={quote(f'-csearch_path={schema}')}"
    try:
        engine = create_engine_for(url)
        metadata.create_all(engine)
        bench_meta.create_all(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        return child(sys.argv[2], sys.argv[3], Path(sys.argv[4]))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000, help="jobs due at once, per backend")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle polling measured")
    parser.add_argument("--spread", type=int, default=120, help="jobs due over 12 s in the failover scenario")
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), default=None)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        f"{'scenario':<38} {'jobs':>6} {'executions':>10} {'distinct':>8} {'p50 late s':>10} {'p99 late s':>10} "
        f"{'max late s':>10} {'jobs/s':>8} {'idle stmt/s/proc':>16}"
    )
    for backend in [b for b in ("sqlite", "postgresql") if args.only in (None, b)]:
        with tempfile.TemporaryDirectory() as tmp, store(backend, Path(tmp), args.postgres_url) as url:
            with processes(url, Path(tmp)) as files:
                idle = idle_rate(files, args.idle)
                out = burst(url, args.jobs)
            print(
                f"{backend + ', 3 procs, all due at once':<38} {args.jobs:>6} {out['executions']:>10} "
                f"{out['distinct']:>8} {out['p50']:>10.2f} {out['p99']:>10.2f} {out['max']:>10.2f} "
                f"{out['throughput']:>8.1f} {idle:>16.2f}",
                flush=True,
            )
        nodes, kills = (2, 2) if backend == "postgresql" else (1, 1)
        with tempfile.TemporaryDirectory() as tmp, store(backend, Path(tmp), args.postgres_url) as url:
            procs: dict[str, Any] = {}
            with processes(url, Path(tmp), nodes, procs):
                fail = failover(url, args.spread, procs, kills)
            name = f"{backend}, {nodes}x3 procs, {fail['killed']:.0f} SIGKILL"
            print(
                f"{name:<38} {args.spread:>6} {fail['executions']:>10} {fail['distinct']:>8} {fail['p50']:>10.2f} "
                f"{fail['p99']:>10.2f} {fail['max']:>10.2f} {'-':>8} {'-':>16}   "
                f"({fail['taken_over']:.0f} steps taken over)",
                flush=True,
            )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
