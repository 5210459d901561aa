"""A mitigation run's overhead: what Parapet adds around the callable (claim + audit), per run.

    python benchmarks/mitigation.py                 # 300 runs on PostgreSQL and on SQLite
    python benchmarks/mitigation.py --runs 1000 --only postgresql

Each run opens an incident (not timed), then times the two parts Parapet owns, on a real database:

    claim    ``parapet.automation.runs.request``: parameters validated over the incident, the incident locked,
             the claim inserted (INSERT … ON CONFLICT DO NOTHING), the "mitigation" job enqueued and the
             "mitigation_requested" entry written, in one transaction (what a click costs)
    audit    ``parapet.automation.runs.execute`` around a callable that returns at once: the claim moved to
             running ("mitigation_started"), then the tool audit, the outcome entry, the claim's outcome and the
             job's fenced completion in one transaction (what the worker adds to a run)

The callable itself is replaced by a no-op runner: its own time (a child process, about 50 ms plus the host's
import) is the mitigation's, not the overhead. Prints p50, p95 and max in milliseconds per part and for both
together, and the CPU this process spent on both (Python's side; the database server's is not in it: on a busy
machine the wall-clock figures grow with the load, the CPU ones much less). Target: claim + audit p95 at most
50 ms on PostgreSQL. The breaker's reads (tool audits of the step and
target) are inside "audit" for automatic runs; the runs here are automatic, so they are counted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, text, update

from parapet.automation import executor
from parapet.automation.catalog import Catalog, define
from parapet.automation.runs import MITIGATION, SYSTEM_AUTOMATION, execute, request
from parapet.evidence import Alert, Store, create_engine_for
from parapet.evidence.schema import JOB_RUNNING, jobs, metadata
from parapet.work import Job, JobContext

RUNBOOK = define(
    "bench",
    match={"alert": "Bench"},
    steps=[
        {
            "mitigation": {
                "python": "bench.ops:noop",
                "parameters": {"queue": {"default": "{labels.queue}"}, "count": {"type": "integer", "default": 2}},
                "breaker": {"max_runs": 1000, "window": "1s"},
            }
        }
    ],
)
CATALOG = Catalog((RUNBOOK,))


def noop(python: str, params: Any, **_: Any) -> executor.Outcome:
    return executor.Outcome(executor.SUCCEEDED, result=None, duration_s=0.0)


def one_run(store: Store, n: int) -> tuple[float, float, float]:
    incident = store.open_or_touch(
        Alert(
            correlation_key=f"bench/{n}",
            alert_name="Bench",
            severity="critical",
            title="bench",
            labels={"queue": "payments"},
        )
    ).incident
    step = RUNBOOK.steps[0]
    cpu = time.process_time()
    started = time.perf_counter()
    done = request(store.engine, incident.id, RUNBOOK, step, actor=SYSTEM_AUTOMATION, given={}, now=datetime.now(UTC))
    claimed = time.perf_counter()
    cpu_claim = time.process_time() - cpu
    # the worker's claim of the job (the engine's cost, not timed): running, held by this "worker"
    with store.engine.begin() as conn:
        row = conn.execute(
            update(jobs)
            .where(jobs.c.kind == MITIGATION, jobs.c.state == "pending")
            .values(state=JOB_RUNNING, lease_holder="bench", attempts=1, lease_until=datetime.now(UTC))
            .returning(*jobs.c)
        ).one()
    payload = {**row.payload, "automatic": True}
    job = Job(row.id, row.kind, row.key, payload, 1, row.due_at, row.created_at)
    ctx = JobContext(job=job, engine=store.engine, worker_id="bench", settings=None)
    cpu = time.process_time()
    before = time.perf_counter()
    result = execute(ctx, CATALOG, runner=noop)
    audited = time.perf_counter()
    cpu_total = cpu_claim + time.process_time() - cpu
    assert done.won and result["status"] == "succeeded", result
    return (claimed - started) * 1000, (audited - before) * 1000, cpu_total * 1000


def measure(name: str, engine: Engine, runs: int) -> dict[str, Any]:
    store = Store(engine)
    for i in range(20):  # warm the pool and the statement caches
        one_run(store, -i - 1)
    claims, audits, cpus = [], [], []
    for i in range(runs):
        c, a, u = one_run(store, i)
        claims.append(c)
        audits.append(a)
        cpus.append(u)
    totals = [c + a for c, a in zip(claims, audits, strict=True)]
    return {"backend": name, "claim": claims, "audit": audits, "total": totals, "cpu": cpus}


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def table(rows: list[dict[str, Any]]) -> str:
    head = f"{'backend':<11} {'part':<14} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"
    lines = [head, "-" * len(head)]
    for row in rows:
        parts = (("claim", "claim"), ("audit", "audit"), ("total", "claim + audit"), ("cpu", "  its CPU"))
        for part, label in parts:
            values = row[part]
            lines.append(
                f"{row['backend']:<11} {label:<14} {statistics.median(values):>8.2f} {pct(values, 95):>8.2f} "
                f"{max(values):>8.2f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("PARAPET_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args(argv)
    rows = []
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as folder:
            engine = create_engine_for(f"sqlite:///{Path(folder) / 'bench.db'}")
            metadata.create_all(engine)
            rows.append(measure("sqlite", engine, args.runs))
            engine.dispose()
    if args.only != "sqlite":
        schema = f"parapet_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            engine = create_engine_for(f"{args.postgres_url}?options={quote(f'-csearch_path={schema}')}")
            metadata.create_all(engine)
            rows.append(measure("postgresql", engine, args.runs))
            engine.dispose()
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    print(f"{args.runs} runs per backend, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
