"""One worker process of the escalation tests and benchmark: ``python -m tests.escalation.proc URL WORKER_ID
HOSTNAME [COUNTS_FILE]``. It runs the job kind "escalate" with the real handler until SIGTERM. A step of an
incident whose id is a multiple of ``$ESCALATION_SLOW_EVERY`` holds its job ``SLOW_S`` longer before it
writes (so a test can kill a process in the middle of one); with COUNTS_FILE it writes how many SQL
statements it has run, and for how long, as JSON, every half second and when it stops (the benchmark reads the
idle cost off two samples)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

from parapet.escalation import core, steps
from parapet.evidence.db import create_engine_for
from parapet.work import Worker

SLOW_EVERY = int(os.environ.get("ESCALATION_SLOW_EVERY", "0"))
SLOW_S = 0.8


def _slowed(conn: Any, incident_id: int, **kwargs: Any) -> core.Outcome:
    if SLOW_EVERY and incident_id % SLOW_EVERY == 0:
        # holding the job, before the step's first write (on SQLite a write would hold the database's lock)
        time.sleep(SLOW_S)
    return core.execute_step(conn, incident_id, **kwargs)


def main(argv: list[str]) -> int:
    url, worker_id, hostname = argv[:3]
    counts_file = Path(argv[3]) if len(argv) > 3 else None
    steps.execute_step = _slowed  # type: ignore[assignment]
    engine = create_engine_for(url, pool_pre_ping=False)
    statements = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def count(*_args: Any) -> None:
        statements[0] += 1

    worker = Worker(engine, worker_id=worker_id, hostname=hostname, kinds=[core.KIND], concurrency=2)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()
        worker.wake()

    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()

    def dump() -> None:
        if counts_file is not None:
            sample = json.dumps({"statements": statements[0], "seconds": time.monotonic() - started})
            tmp = counts_file.with_suffix(".tmp")
            tmp.write_text(sample)
            tmp.replace(counts_file)

    def dumping() -> None:
        while not stop.wait(0.5):
            dump()

    threading.Thread(target=dumping, daemon=True).start()
    sys.stderr.write(f"ready {worker_id}\n")
    sys.stderr.flush()
    worker.run(stop)
    dump()
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
