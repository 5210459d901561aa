"""The operator UI at scale: queue pages and a 5,000-entry incident over real HTTP, on PostgreSQL.

    python benchmarks/ui.py                                 # 1,000,000 incidents, 200 requests per page
    python benchmarks/ui.py --incidents 100000 --requests 100

Seeds a private schema server-side with generate_series (5% of incidents active, the rest resolved, one
``opened`` timeline entry each), then one incident through the store's API with 5,000 timeline entries
and suspect changes before it. Serves ``create_app`` with uvicorn on 127.0.0.1 (mounted at /parapet, the
user from a trusted proxy header, role responder so the pages carry their forms) and times sequential
requests over one keep-alive connection. Prints p50/p95/max in ms and the page weight: the HTML plus the
CSS and JS it loads. Targets (2 cores): queue p95 <= 50 ms, incident p95 <= 80 ms, page weight <= 80 KB.
The schema is dropped at the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import uvicorn
from sqlalchemy import create_engine, text
from starlette.applications import Starlette
from starlette.routing import Mount

from parapet.evidence import Alert, Store, create_engine_for
from parapet.evidence.schema import metadata
from parapet.web import create_app
from parapet.web.identity import TrustedProxies

DEFAULT_URL = os.environ.get("PARAPET_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TIMELINE = 5_000
TARGETS = {"queue": 50.0, "incident": 80.0}
WEIGHT_TARGET = 80 * 1024

SEED_INCIDENTS = """
INSERT INTO parapet_incidents (correlation_key, alert_name, service, slo, severity, severity_rank, state, title,
    summary, labels, annotations, runbook_url, opened_at, opened_by, acknowledged_at, acknowledged_by,
    resolved_at, resolved_by, last_seen_at, occurrence_count, updated_at, version)
SELECT 'svc' || (g % 20) || '/slo' || (g % 7) || '/' || g,
       'ParapetSLOBurnRate' || CASE WHEN g % 3 = 0 THEN 'Slow' ELSE 'Fast' END,
       'svc' || (g % 20), 'slo' || (g % 7),
       (ARRAY['critical', 'warning', 'info', 'page'])[g % 4 + 1],
       (ARRAY[50, 30, 20, 50])[g % 4 + 1],
       CASE WHEN g % 20 <> 0 THEN 'resolved' WHEN g % 40 = 0 THEN 'acknowledged' ELSE 'open' END,
       'svc' || (g % 20) || ' slo' || (g % 7) || ' burning ' || (g % 14 + 1) || 'x',
       'error ratio above the objective over 5m and 1h',
       jsonb_build_object('service', 'svc' || (g % 20), 'slo', 'slo' || (g % 7), 'severity', 'page'),
       jsonb_build_object('summary', 'error ratio above the objective'),
       'https://runbooks.example.com/svc' || (g % 20),
       now() - make_interval(mins => g), 'system:alertmanager',
       CASE WHEN g % 40 = 0 THEN now() - make_interval(mins => g) + interval '4 minutes' END,
       CASE WHEN g % 40 = 0 THEN 'rita' END,
       CASE WHEN g % 20 <> 0 THEN now() - make_interval(mins => g) + interval '40 minutes' END,
       CASE WHEN g % 20 <> 0 THEN 'system:alertmanager' END,
       now() - make_interval(mins => g), 1 + g % 5, now() - make_interval(mins => g), 2
FROM generate_series(1, :n) AS g
"""
SEED_OPENED = """
INSERT INTO parapet_timeline_entries (incident_id, kind, actor, at, message, data)
SELECT id, 'opened', 'system:alertmanager', opened_at, title, '{}'::jsonb FROM parapet_incidents
"""
SEED_TIMELINE = """
INSERT INTO parapet_timeline_entries (incident_id, kind, actor, at, message, data)
SELECT :id, CASE WHEN g % 10 = 0 THEN 'instance_added' ELSE 'note' END,
       (ARRAY['rita', 'adam', 'system:alertmanager', 'system:parapet:automation'])[g % 4 + 1],
       CAST(:opened AS timestamptz) + make_interval(secs => g * 7),
       'checked ' || (ARRAY['the dashboard', 'the error logs', 'the last deploy', 'the database'])[g % 4 + 1]
           || ', error ratio now ' || (g % 97) || '.' || (g % 10) || '% (entry ' || g || ')',
       '{}'::jsonb
FROM generate_series(1, :n) AS g
"""


def seed(url: str, incidents: int) -> tuple[Store, int]:
    engine = create_engine_for(url)
    metadata.create_all(engine)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text(SEED_INCIDENTS), {"n": incidents})
        conn.execute(text(SEED_OPENED))
    store = Store(engine)
    now = datetime.now(UTC)
    for minutes, kind, message in ((50, "deploy", "svc3 v2.31.0 (a1b2c3d)"), (20, "flag", "new-pricing on")):
        store.record_system_event(
            kind, service="svc3", actor="ci", message=message, occurred_at=now - timedelta(minutes=minutes)
        )
    big = store.open_or_touch(
        Alert(
            correlation_key="svc3/checkout/bench",
            alert_name="ParapetSLOBurnRateFast",
            severity="critical",
            title="svc3 checkout availability burning 14x",
            service="svc3",
            slo="checkout",
            summary="5xx ratio at 4.2% over 5m and 1h",
            labels={"service": "svc3", "slo": "checkout", "severity": "page"},
            runbook_url="https://runbooks.example.com/svc3",
        )
    ).incident
    with engine.begin() as conn:
        conn.execute(text(SEED_TIMELINE), {"id": big.id, "opened": big.opened_at, "n": TIMELINE - 1})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))  # what autovacuum does soon after a bulk load (visibility map)
    print(f"seeded {incidents:,} incidents and a {TIMELINE:,}-entry timeline in {time.perf_counter() - started:.1f} s")
    return store, big.id


class Server:
    def __init__(self, app: Starlette, port: int) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


COOKIES: dict[str, str] = {}


def fetch(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    """GET as a browser would: the proxy's identity headers, and the session cookie it was given."""
    headers = {"X-Forwarded-User": "bench", "X-Parapet-Role": "responder"}
    if COOKIES:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in COOKIES.items())
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    for cookie in response.headers.get_all("set-cookie") or []:
        name, _, rest = cookie.partition("=")
        COOKIES[name] = rest.split(";", 1)[0]
    return response.status, response.read()


def time_page(conn: http.client.HTTPConnection, path: str, requests: int) -> tuple[list[float], bytes]:
    body = b""
    for _ in range(10):  # warm-up: connection pool, template cache, PostgreSQL's buffers
        status, body = fetch(conn, path)
        if status != 200:
            raise SystemExit(f"error: GET {path} answered {status}: {body[:300]!r}")
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        fetch(conn, path)
        times.append((time.perf_counter() - started) * 1000)
    return times, body


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--postgres-url", default=DEFAULT_URL)
    parser.add_argument("--port", type=int, default=18765)
    args = parser.parse_args()

    schema = f"parapet_bench_ui_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{args.postgres_url}?options={quote(f'-csearch_path={schema}')}&application_name={schema}"
    store = None
    try:
        store, big = seed(url, args.incidents)
        proxies = TrustedProxies.parse(["127.0.0.1"], role_header="X-Parapet-Role")
        app = create_app(spec_path=None, store=store, trusted_proxies=proxies, session_secret=uuid.uuid4().hex * 2)
        host = Starlette(routes=[Mount("/parapet", app=app)])
        pages = [
            ("queue", "queue: active, first page", "/parapet/"),
            ("queue", "queue: one service", "/parapet/?service=svc3"),
            ("queue", "queue: resolved, first page", "/parapet/?state=resolved"),
            ("incident", f"incident: {TIMELINE:,} entries, newest page", f"/parapet/incidents/{big}"),
        ]
        rows = []
        with Server(host, args.port), contextlib.closing(http.client.HTTPConnection("127.0.0.1", args.port)) as conn:
            _, first = fetch(conn, "/parapet/")
            assets = re.findall(rb'(?:href|src)="(/parapet/static/[^"]+)"', first)
            asset_bytes = sum(len(fetch(conn, a.decode())[1]) for a in dict.fromkeys(assets))
            deep = re.search(rb'href="/parapet/\?cursor=([^"]+)" rel="next"', first)
            if deep:
                pages.insert(1, ("queue", "queue: active, second page", f"/parapet/?cursor={deep.group(1).decode()}"))
            _, detail = fetch(conn, f"/parapet/incidents/{big}")
            older = re.search(rb'href="(/parapet/incidents/\d+\?before=[^"]+)"', detail)
            if older:
                pages.append(("incident", "incident: an older timeline page", older.group(1).decode()))
            for kind, label, path in pages:
                times, body = time_page(conn, path, args.requests)
                rows.append((kind, label, statistics.median(times), p95(times), max(times), len(body)))
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"\n{args.incidents:,} incidents on PostgreSQL, {args.requests} sequential requests per page over HTTP "
            f"({os.cpu_count()} cores, load average {load})"
        )
        print(f"{'page':44} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'HTML KB':>8} {'+assets':>8}  target")
        failed = False
        for kind, label, p50, p95_ms, worst, size in rows:
            weight = size + asset_bytes
            ok = p95_ms <= TARGETS[kind] and weight <= WEIGHT_TARGET
            failed |= not ok
            print(
                f"{label:44} {p50:8.1f} {p95_ms:8.1f} {worst:8.1f} {size / 1024:8.1f} {weight / 1024:8.1f}  "
                f"p95 <= {TARGETS[kind]:.0f} ms, <= 80 KB: {'ok' if ok else 'MISSED'}"
            )
        print(f"(assets: CSS and JS, {asset_bytes / 1024:.1f} KB, counted in every page's weight)")
        return 1 if failed else 0
    finally:
        if store is not None:
            store.engine.dispose()
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"),
                {"n": schema},
            )
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
