"""One worker process of the multi-process tests and the benchmark: ``python -m tests.work.proc URL WORKER_ID
HOSTNAME [COUNTS_FILE]``. It runs the job kind ``mp_step`` (sleep ``payload["sleep"]`` seconds, then write one row
of ``work_mp_steps`` and complete the job in the same transaction) and the periodic ``mp_tick`` (every second,
one row of ``work_mp_ticks`` per slot) until SIGTERM; with COUNTS_FILE it writes the
number of SQL statements it ran and for how long, as JSON, when it stops."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, event, insert

from parapet.evidence.db import create_engine_for
from parapet.evidence.schema import UTCDateTime
from parapet.work import JobContext, Worker, handler, periodic

KIND = "mp_step"
TICK = "mp_tick"
LEASE = timedelta(seconds=1)

mp_meta = MetaData()
mp_steps = Table(
    "work_mp_steps",
    mp_meta,
    Column("id", Integer, primary_key=True),
    Column("key", String(255), nullable=False),
    Column("worker_id", String(255), nullable=False),
    Column("hostname", String(255), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("completed_at", UTCDateTime, nullable=False),
)


mp_ticks = Table(
    "work_mp_ticks",
    mp_meta,
    Column("id", Integer, primary_key=True),
    Column("slot", Integer, nullable=False),
    Column("worker_id", String(255), nullable=False),
)


def tick(ctx: JobContext) -> Mapping[str, Any] | None:
    """A periodic job every second (registered in ``main`` only: a test process that imports this module must not
    get a periodic job): one row per slot, written with the job's completion."""
    with ctx.engine.begin() as conn:
        conn.execute(insert(mp_ticks).values(slot=int(ctx.job.payload["slot"]), worker_id=ctx.worker_id))
        ctx.complete(conn)
    return None


@handler(KIND, lease=LEASE)
def step(ctx: JobContext) -> Mapping[str, Any] | None:
    time.sleep(float(ctx.job.payload.get("sleep", 0.2)))
    with ctx.engine.begin() as conn:
        conn.execute(
            insert(mp_steps).values(
                key=ctx.job.key,
                worker_id=ctx.worker_id,
                hostname=ctx.worker_id.split(":")[0],
                attempt=ctx.job.attempts,
                completed_at=ctx.now(),
            )
        )
        ctx.complete(conn)
    return None


def main(argv: list[str]) -> int:
    url, worker_id, hostname = argv[:3]
    counts_file = Path(argv[3]) if len(argv) > 3 else None
    engine = create_engine_for(url, pool_pre_ping=False)
    statements = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def count(*_args: Any) -> None:
        statements[0] += 1

    periodic(TICK, every=timedelta(seconds=1), lease=LEASE, fn=tick)
    worker = Worker(engine, worker_id=worker_id, hostname=hostname, kinds=[KIND, TICK], concurrency=2)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()
        worker.wake()

    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    sys.stderr.write(f"ready {worker_id}\n")
    sys.stderr.flush()
    worker.run(stop)
    if counts_file is not None:
        counts_file.write_text(json.dumps({"statements": statements[0], "seconds": time.monotonic() - started}))
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
