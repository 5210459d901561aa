"""Evidence store at scale: queue pages, open-or-touch, archive.

    python benchmarks/store.py                      # 1,000,000 incidents on PostgreSQL, 200,000 on SQLite
    python benchmarks/store.py --pg-incidents 100000 --sqlite-incidents 20000 --only sqlite

Seeds incidents (5% active, the rest resolved, half of those long ago) with two timeline entries each,
PostgreSQL through COPY and SQLite through multi-row inserts, then prints one row per backend: the queue's
first page and a deep keyset page (p50, p95 ms), open-or-touch throughput, archive throughput for the old
half, and the longest single delete transaction. PostgreSQL runs in a schema of its own, dropped at the end
(``--postgres-url``, default the local test server). Targets: queue page p95 under 20 ms at 1M incidents;
archiving 500,000 incidents well under a minute.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, insert, select, text

from parapet.evidence import Alert, Store, create_engine_for
from parapet.evidence.archive import ArchiveOptions, run_archive
from parapet.evidence.schema import incidents, metadata, timeline_entries

NOW = datetime.now(UTC)
COLS = (
    "id, correlation_key, alert_name, service, severity, severity_rank, state, title, labels, annotations, "
    "opened_at, opened_by, resolved_at, resolved_by, last_seen_at, occurrence_count, updated_at, version"
)
SEVERITIES = (("critical", 50), ("warning", 30), ("info", 20), ("page", 50))


def _row(i: int) -> tuple[str, str, int, str, datetime, datetime | None]:
    """(state, severity, rank, service, opened_at, resolved_at) for incident i."""
    severity, rank = SEVERITIES[i % 4]
    service = f"svc{i % 20}"
    opened = NOW - timedelta(minutes=i % 400_000, seconds=i % 60) - timedelta(days=1)
    if i % 20 == 0:
        return ("open" if i % 40 else "acknowledged", severity, rank, service, opened, None)
    resolved_days = 200 if i % 2 else 10  # half the resolved ones are past a 90-day retention
    return (
        "resolved",
        severity,
        rank,
        service,
        opened - timedelta(days=resolved_days),
        NOW - timedelta(days=resolved_days, minutes=i % 1000),
    )


def seed_postgres(engine: Engine, n: int) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        # The rows are consistent by construction: skip the per-row foreign-key triggers while seeding
        # (needs a superuser, as on the local test server), and commit each chunk.
        cur.execute("SET session_replication_role = replica")
        for start in range(1, n + 1, 100_000):
            buf = io.StringIO()
            tbuf = io.StringIO()
            for i in range(start, min(n, start + 99_999) + 1):
                state, sev, rank, svc, opened, resolved = _row(i)
                res = resolved.isoformat() if resolved else "\\N"
                by = "bob" if resolved else "\\N"
                buf.write(
                    f'{i}\tkey/{i}\tAlert{i % 50}\t{svc}\t{sev}\t{rank}\t{state}\tincident {i}\t{{"i": "{i}"}}\t{{}}\t'
                    f"{opened.isoformat()}\tsystem:alertmanager\t{res}\t{by}\t{opened.isoformat()}\t1\t"
                    f"{opened.isoformat()}\t2\n"
                )
                tbuf.write(f"{i}\topened\tsystem:alertmanager\t{opened.isoformat()}\t{{}}\n")
                tbuf.write(f"{i}\tnote\talice\t{opened.isoformat()}\t{{}}\n")
            with cur.copy(f"COPY parapet_incidents ({COLS}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                copy.write(buf.getvalue())
            with cur.copy("COPY parapet_timeline_entries (incident_id, kind, actor, at, data) FROM STDIN") as copy:  # type: ignore[attr-defined]
                copy.write(tbuf.getvalue())
            raw.commit()
        cur.execute("SET session_replication_role = DEFAULT")
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('parapet_incidents', 'id'), (SELECT max(id) FROM parapet_incidents))"
        )
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def seed_sqlite(engine: Engine, n: int) -> None:
    for start in range(1, n + 1, 20_000):
        rows, entries = [], []
        for i in range(start, min(n, start + 19_999) + 1):
            state, sev, rank, svc, opened, resolved = _row(i)
            rows.append(
                {
                    "id": i,
                    "correlation_key": f"key/{i}",
                    "alert_name": f"Alert{i % 50}",
                    "service": svc,
                    "severity": sev,
                    "severity_rank": rank,
                    "state": state,
                    "title": f"incident {i}",
                    "labels": {"i": str(i)},
                    "annotations": {},
                    "opened_at": opened,
                    "opened_by": "system:alertmanager",
                    "resolved_at": resolved,
                    "resolved_by": "bob" if resolved else None,
                    "last_seen_at": opened,
                    "occurrence_count": 1,
                    "updated_at": opened,
                    "version": 2,
                }
            )
            entries.append(
                {"incident_id": i, "kind": "opened", "actor": "system:alertmanager", "at": opened, "data": {}}
            )
            entries.append({"incident_id": i, "kind": "note", "actor": "alice", "at": opened, "data": {}})
        with engine.begin() as conn:
            conn.execute(insert(incidents), rows)
            conn.execute(insert(timeline_entries), entries)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def measure(
    name: str, engine: Engine, n: int, seed: Callable[[Engine, int], None], archive_dir: Path
) -> dict[str, object]:
    metadata.create_all(engine)
    t0 = time.perf_counter()
    seed(engine, n)
    seeded = time.perf_counter() - t0
    store = Store(engine)
    store.queue()  # warm up
    first = timed(lambda: store.queue(), 200)
    with engine.connect() as conn:  # a cursor deep in the queue (setup only: the queue never uses OFFSET)
        active = conn.execute(select(incidents.c.id).where(incidents.c.state != "resolved")).all()
    deep_at = max(0, len(active) - 100)
    cursor = None
    page = store.queue(limit=100)
    walked = 100
    while page.next_cursor and walked < deep_at:
        cursor = page.next_cursor
        page = store.queue(limit=100, cursor=cursor)
        walked += 100
    deep = timed(lambda: store.queue(cursor=cursor), 200)
    touches = 2000
    t0 = time.perf_counter()
    for i in range(touches):
        store.open_or_touch(
            Alert(correlation_key=f"bench/{i % 1000}", alert_name="Bench", severity="warning", title="b")
        )
    touch_rate = touches / (time.perf_counter() - t0)
    result = run_archive(
        engine,
        ArchiveOptions(older_than=timedelta(days=90), archive_file=archive_dir / f"{name}.jsonl.gz", batch_size=2000),
    )
    return {
        "backend": name,
        "incidents": n,
        "active": len(active),
        "seed s": f"{seeded:.1f}",
        "queue p50/p95 ms": f"{first[0]:.2f} / {first[1]:.2f}",
        "deep page at row": walked,
        "deep page p50/p95 ms": f"{deep[0]:.2f} / {deep[1]:.2f}",
        "open-or-touch /s": f"{touch_rate:.0f}",
        "archived": result.archived,
        "archive s": f"{result.seconds:.1f}",
        "archive /s": f"{result.archived / result.seconds:.0f}" if result.seconds else "-",
        "longest delete ms": f"{result.longest_delete_ms:.1f}",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-incidents", type=int, default=1_000_000)
    parser.add_argument("--sqlite-incidents", type=int, default=200_000)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("PARAPET_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.only != "postgresql":
            engine = create_engine_for(f"sqlite:///{folder / 'bench.db'}")
            try:
                rows.append(measure("sqlite", engine, args.sqlite_incidents, seed_sqlite, folder))
            finally:
                engine.dispose()
        if args.only != "sqlite":
            schema = f"parapet_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            try:
                engine = create_engine_for(f"{args.postgres_url}?options={quote(f'-csearch_path={schema}')}")
                try:
                    rows.append(measure("postgresql", engine, args.pg_incidents, seed_postgres, folder))
                finally:
                    engine.dispose()
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
    keys = list(rows[0]) if rows else []
    for row in rows:
        for key in row:
            if key not in keys:
                keys.append(key)
    width = max(len(k) for k in keys)
    print(f"{'':<{width}}  " + "  ".join(f"{r['backend']!s:>22}" for r in rows))
    for key in keys[1:]:
        print(f"{key:<{width}}  " + "  ".join(f"{r.get(key, '-')!s:>22}" for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
