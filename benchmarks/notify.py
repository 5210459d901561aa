"""The notification outbox's cost and Slack coalescing, on SQLite and PostgreSQL.

    python benchmarks/notify.py                     # both databases
    python benchmarks/notify.py --only sqlite --deliveries 200

Scenarios (each on a fresh store, the webhook intake through the real ASGI app in-process):
    intake, no notifiers      N Alertmanager deliveries of 10 alerts (new incidents, then repeats and additions)
    intake, Slack + webhook   the same with an announce Slack target and an announce webhook target: the hooks
                              subscriber writes their jobs in each delivery's transaction (ms per delivery, jobs)
    burst                     one incident, 100 deliveries adding an alert every 100 ms (10 s), the work engine
                              ticking every 100 ms (a fake clock), a fake Slack API on loopback driven by the real
                              slack_sdk client: Slack calls made (at most one per 2 s, plus the post), and how late
                              the message is after the last change

The burst's figures are exact (a fake clock); the intake figures are wall-clock on a shared machine.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

SPEC = """\
version: parapet/v1
service: shop
alerting: {runbook_url: 'https://runbooks.example.com/{slo}'}
slos:
  - name: availability
    objective: 99.9
    sli: {http: {}}
"""
NOTIFIERS = """\
notifiers:
  ops-slack:
    kind: slack
    channel: C0PARAPET
    token_env: BENCH_SLACK_TOKEN
    announce: true
    api_url: {api_url}
  ops-hook:
    kind: webhook
    url: http://127.0.0.1:9/hook
    secret_env: BENCH_HOOK_KEY
    announce: true
"""


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _alert(group: int, n: int, starts: datetime) -> dict[str, Any]:
    from tests.alerts.conftest import alert

    labels = {"service": f"svc{group}", "slo": "availability", "severity": "critical", "pod": f"p{n}"}
    return alert(f"Bench{group}", starts=starts, **labels)


def _world(url: str, tmp: Path, notifiers: str, clock: Clock) -> tuple[Any, Any, Any]:
    from starlette.testclient import TestClient

    from parapet.evidence import Store
    from parapet.evidence.db import create_engine_for
    from parapet.evidence.schema import metadata
    from parapet.web import create_app

    spec = tmp / "parapet.yaml"
    spec.write_text(SPEC + notifiers)
    engine = create_engine_for(url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    store = Store(engine, clock=clock)
    client = TestClient(create_app(spec_path=spec, store=store, insecure_webhook=True))
    return store, client, spec


def intake(url: str, deliveries: int, with_notifiers: bool, api_url: str) -> dict[str, Any]:
    from sqlalchemy import func, select
    from tests.alerts.conftest import payload

    from parapet.evidence.schema import jobs

    with tempfile.TemporaryDirectory() as tmp:
        clock = Clock(datetime.now(UTC))
        notifiers = NOTIFIERS.format(api_url=api_url) if with_notifiers else ""
        store, client, _ = _world(url, Path(tmp), notifiers, clock)
        times = []
        with client:
            for i in range(deliveries):
                group, round_ = i % 50, i // 50
                alerts = [_alert(group, round_ * 10 + k, clock.at) for k in range(10)]
                started = time.perf_counter()
                response = client.post("/webhook", json=payload(*alerts))
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
        with store.engine.connect() as conn:
            written = conn.execute(select(func.count()).select_from(jobs).where(jobs.c.kind == "notify")).scalar()
        store.engine.dispose()
    times.sort()
    return {
        "p50_ms": statistics.median(times) * 1000,
        "p99_ms": times[int(len(times) * 0.99) - 1] * 1000,
        "jobs": int(written or 0),
    }


def burst(url: str) -> dict[str, Any]:
    from tests.alerts.conftest import payload
    from tests.notify.fake_slack import FakeSlack

    from parapet.alerts.worker import Worker
    from parapet.spec import load_spec

    with tempfile.TemporaryDirectory() as tmp, FakeSlack(os.environ["BENCH_SLACK_TOKEN"]).running() as slack:
        clock = Clock(datetime.now(UTC).replace(microsecond=0))
        notifiers = NOTIFIERS.format(api_url=slack.url).split("  ops-hook:")[0]
        store, client, spec = _world(url, Path(tmp), notifiers, clock)
        worker = Worker(store, spec=load_spec(spec))
        start = clock.at
        sent_at: list[datetime] = []
        with client:
            for i in range(100):
                client.post("/webhook", json=payload(_alert(0, i, start)))
                before = len(slack.calls())
                worker.engine.run_once()
                sent_at += [clock.at] * (len(slack.calls()) - before)
                clock.at += timedelta(milliseconds=100)
            last_change = clock.at - timedelta(milliseconds=100)
            while clock.at < last_change + timedelta(seconds=5):
                before = len(slack.calls())
                worker.engine.run_once()
                sent_at += [clock.at] * (len(slack.calls()) - before)
                clock.at += timedelta(milliseconds=100)
        final = slack.calls()[-1].body["text"] if slack.calls() else ""
        store.engine.dispose()
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(sent_at)]
    return {
        "changes": 100,
        "calls": len(sent_at),
        "posts": len([r for r in slack.calls() if r.method == "chat.postMessage"]),
        "min_gap_s": min(gaps) if gaps else None,
        "late_s": (sent_at[-1] - last_change).total_seconds() if sent_at else None,
        "shows_100": "100 firing" in str(slack.calls()[-1].body) if slack.calls() else False,
        "final": final[:60],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=300, help="10-alert deliveries per intake scenario")
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), default=None)
    args = parser.parse_args()
    os.environ.setdefault("BENCH_SLACK_TOKEN", "xoxb-benchmark-token-000000")
    os.environ.setdefault("BENCH_HOOK_KEY", "benchmark-webhook-key-0000")
    import logging

    logging.disable(logging.WARNING)
    urls = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "sqlite"):
            urls["sqlite"] = f"sqlite:///{tmp}/bench.db"
        if args.only in (None, "postgresql"):
            urls["postgresql"] = _pg_schema(args.postgres_url)
        print(f"{'database':<11} {'scenario':<26} {'p50 ms':>8} {'p99 ms':>8} {'notify jobs':>12}")
        for name, url in urls.items():
            for label, flag in (("intake, no notifiers", False), ("intake, Slack + webhook", True)):
                r = intake(url, args.deliveries, flag, "http://127.0.0.1:9/api/")
                print(f"{name:<11} {label:<26} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['jobs']:>12,}")
        print()
        head = f"{'database':<11} {'changes':>8} {'Slack calls':>12} {'posts':>6} {'min gap s':>10} {'late s':>7}"
        print(f"{head}  final")
        for name, url in urls.items():
            b = burst(url)
            print(
                f"{name:<11} {b['changes']:>8} {b['calls']:>12} {b['posts']:>6} {b['min_gap_s']:>10} "
                f"{b['late_s']:>7}  {b['final']!r} (100 alerts shown: {b['shows_100']})"
            )
        if "postgresql" in urls:
            _drop_pg(args.postgres_url)


_SCHEMA = f"bench_notify_{os.getpid()}"


def _pg_schema(base: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {_SCHEMA}"))
    engine.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{_SCHEMA}"


def _drop_pg(base: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {_SCHEMA} CASCADE"))
    engine.dispose()


if __name__ == "__main__":
    main()
