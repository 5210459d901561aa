"""The background loops on SQLite and PostgreSQL: staleness marks (never a resolution), one run per interval
across processes (leases in the database), heartbeats; and `parapet worker` / `parapet serve` refusals."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from parapet.alerts import Correlator, ingest, parse_payload
from parapet.alerts.worker import (
    STALENESS,
    SYSTEM_STALENESS,
    Worker,
    WorkerConfig,
    last_heartbeat,
    mark_stale,
)
from parapet.evidence.schema import jobs, workers
from parapet.evidence.store import Store
from parapet.spec.model import AlertmanagerSettings
from tests.alerts.conftest import T0, Clock, alert, payload

FOUR_H = timedelta(hours=4)


def test_unseen_for_three_repeat_intervals_is_stale_never_resolved(store: Store, clock: Clock) -> None:
    incident_id = ingest(store, parse_payload(payload(alert(), alert(instance="b"))), Correlator()).opened[0]
    clock.advance(hours=6)
    ingest(store, parse_payload(payload(alert(instance="b"))), Correlator())  # b repeats, a does not
    clock.advance(hours=6, minutes=1)  # a unseen for 12h01m > 3 x 4h; b for 6h01m
    result = mark_stale(store, FOUR_H)
    assert result == {"stale": 1, "incidents": [incident_id]}
    (stale,) = [i for i in store.alert_instances(incident_id) if i.stale]
    assert stale.labels.get("instance") is None
    assert store.get(incident_id).state == "open"
    last = store.timeline(incident_id)[-1]
    assert (last.kind, last.actor) == ("instance_stale", SYSTEM_STALENESS)
    assert mark_stale(store, FOUR_H) == {"stale": 0, "incidents": []}  # marked once
    assert store.stale_incident_ids([incident_id]) == {incident_id}
    ingest(store, parse_payload(payload(alert())), Correlator())  # Alertmanager sends it again
    assert store.stale_incident_ids([incident_id]) == set()


def test_a_loop_runs_once_per_interval_across_workers(store: Store, clock: Clock) -> None:
    """Four processes' workers tick at once: the staleness slot runs once; the next slot once more; a worker that
    died mid-run (its job's lease expired) is taken over, and its late completion is refused."""
    config = AlertmanagerSettings(repeat_interval=FOUR_H)
    runners = [Worker(store, WorkerConfig(alertmanager=config, worker_id=f"w{n}")) for n in range(4)]
    results: list[dict[str, object]] = []
    barrier = threading.Barrier(4)

    def contend(runner: Worker) -> None:
        barrier.wait()
        results.append(runner.tick())

    threads = [threading.Thread(target=contend, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(len, results)) == [0, 0, 0, 1]
    assert [r.tick() for r in runners] == [{}, {}, {}, {}]  # not due again within the slot
    clock.advance(seconds=60)
    assert [r.tick() for r in runners] == [{STALENESS: {"stale": 0, "incidents": []}}, {}, {}, {}]
    with store.engine.connect() as conn:
        keys = conn.execute(select(jobs.c.key, jobs.c.state).where(jobs.c.kind == STALENESS)).all()
    slot = int(T0.timestamp())
    assert sorted(keys) == [(f"{STALENESS}@{slot}", "done"), (f"{STALENESS}@{slot + 60}", "done")]


def test_worker_tick_beats_and_runs_what_is_due(store: Store, clock: Clock) -> None:
    assert last_heartbeat(store) is None
    worker = Worker(store, WorkerConfig(alertmanager=AlertmanagerSettings(repeat_interval=FOUR_H), worker_id="w1"))
    assert worker.tick() == {"staleness": {"stale": 0, "incidents": []}}
    assert last_heartbeat(store) == T0
    clock.advance(seconds=1)
    assert worker.tick() == {}  # nothing due; the heartbeat is not rewritten every second
    clock.advance(seconds=60)
    assert "staleness" in worker.tick()
    assert last_heartbeat(store) == clock()
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(workers)).scalar_one() == 1


def test_a_failed_alertmanager_read_resolves_nothing(store: Store, clock: Clock) -> None:
    incident_id = ingest(store, parse_payload(payload(alert())), Correlator()).opened[0]
    clock.advance(minutes=5)
    config = WorkerConfig(
        alertmanager=AlertmanagerSettings(url="http://127.0.0.1:9"), worker_id="w1", fetch_timeout_s=2
    )
    result = Worker(store, config).tick()
    assert "error" in result["reconcile"]
    assert store.get(incident_id).state == "open"


def test_worker_once_prints_its_tick(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from parapet.evidence.db import create_engine_for
    from parapet.evidence.schema import metadata

    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = create_engine_for(url)
    metadata.create_all(engine)
    engine.dispose()
    monkeypatch.chdir(tmp_path)
    result = cli("worker", "--database-url", url, "--once")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"staleness": {"incidents": [], "stale": 0}}
    missing = cli("worker", "--database-url", f"sqlite:///{tmp_path / 'empty.db'}", "--once")
    assert missing.exit_code == 3 and "the evidence spine is not migrated" in missing.stderr


def test_serve_refuses_to_start_without_auth(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PARAPET_WEBHOOK_TOKEN_FILE", raising=False)
    url = f"sqlite:///{tmp_path / 's.db'}"
    bare = cli("serve", "--database-url", url)
    assert bare.exit_code == 3
    assert "error: parapet serve needs credentials for Alertmanager's webhook" in bare.stderr
    wide = cli("serve", "--host", "0.0.0.0", "--insecure-local", "--database-url", url)
    assert wide.exit_code == 3
    assert "--insecure-local serves without authentication, so only on 127.0.0.1, not on 0.0.0.0" in wide.stderr
    empty = tmp_path / "token"
    empty.write_text("# nothing\n")
    no_token = cli("serve", "--webhook-token-file", str(empty), "--database-url", url)
    assert no_token.exit_code == 3 and f"the webhook token file {empty} holds no token" in no_token.stderr
    token = tmp_path / "good"
    token.write_text("t0ken\n")
    unmigrated = cli("serve", "--webhook-token-file", str(token), "--database-url", url)
    assert unmigrated.exit_code == 3 and "the evidence spine is not migrated" in unmigrated.stderr


def test_archive_prunes_the_delivery_log_with_the_events_retention(store: Store, clock: Clock, tmp_path: Path) -> None:
    from parapet.evidence.archive import ArchiveOptions, run_archive

    ingest(store, parse_payload(payload(alert())), Correlator())
    clock.advance(days=8)
    ingest(store, parse_payload(payload(alert())), Correlator())
    dry = run_archive(store.engine, ArchiveOptions(dry_run=True), clock=clock)
    assert dry.deliveries_pruned == 1
    done = run_archive(store.engine, ArchiveOptions(archive_file=tmp_path / "a.jsonl"), clock=clock)
    assert done.deliveries_pruned == 1
    with store.engine.connect() as conn:
        from parapet.evidence.schema import webhook_deliveries

        assert conn.execute(select(func.count()).select_from(webhook_deliveries)).scalar_one() == 1


def test_archived_incidents_carry_their_alert_instances(store: Store, clock: Clock, tmp_path: Path) -> None:
    from parapet.evidence.archive import ArchiveOptions, read_archive, run_archive

    incident_id = ingest(store, parse_payload(payload(alert(), alert(instance="b"))), Correlator()).opened[0]
    clock.advance(minutes=5)
    ends = T0 + timedelta(minutes=5)
    gone = payload(alert(status="resolved", ends=ends), alert(instance="b", status="resolved", ends=ends))
    assert ingest(store, parse_payload(gone), Correlator()).resolved_incidents == [incident_id]
    clock.advance(days=100)
    archive = tmp_path / "a.jsonl"
    assert run_archive(store.engine, ArchiveOptions(archive_file=archive), clock=clock).archived == 1
    (doc,) = list(read_archive(archive))
    assert doc["incident"]["id"] == incident_id
    assert sorted(i["labels"].get("instance", "") for i in doc["alert_instances"]) == ["", "b"]
    assert {i["status"] for i in doc["alert_instances"]} == {"resolved"}
    assert store.alert_instances(incident_id) == []  # deleted with their incident


def test_parapet_worker_beats_until_sigterm(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    from parapet.evidence.db import create_engine_for
    from parapet.evidence.schema import metadata
    from tests.alerts.harness import ROOT, wait_until

    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = create_engine_for(url)
    metadata.create_all(engine)
    proc = subprocess.Popen(
        [sys.executable, "-m", "parapet_cli", "worker", "--database-url", url],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    try:
        wait_until("a heartbeat", lambda: last_heartbeat(Store(engine)) is not None, timeout=30)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
        engine.dispose()
    assert proc.returncode == 0, err
    assert "heartbeat and staleness marks" in err


def test_a_host_lifespan_runs_the_loops(tmp_path: Path) -> None:
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.testclient import TestClient

    from parapet.alerts.worker import running_in_background
    from parapet.evidence.db import create_engine_for
    from parapet.evidence.schema import metadata
    from parapet.web import create_app
    from tests.alerts.harness import wait_until

    engine = create_engine_for(f"sqlite:///{tmp_path / 'h.db'}")
    metadata.create_all(engine)
    store = Store(engine)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with running_in_background(store, WorkerConfig(kind="host")):
            yield

    host = Starlette(routes=[Mount("/parapet", app=create_app(spec_path=None, store=store))], lifespan=lifespan)
    with TestClient(host):
        wait_until("the host's heartbeat", lambda: last_heartbeat(store) is not None, timeout=10)
    with engine.connect() as conn:
        assert conn.execute(select(workers.c.kind)).scalar_one() == "host"
    engine.dispose()


def test_serve_insecure_local_takes_deliveries_without_credentials(tmp_path: Path) -> None:
    from parapet.evidence.db import create_engine_for
    from parapet.evidence.schema import metadata
    from tests.alerts.harness import http, parapet_serve

    url = f"sqlite:///{tmp_path / 'l.db'}"
    engine = create_engine_for(url)
    metadata.create_all(engine)
    try:
        with parapet_serve(tmp_path, "--insecure-local", "--database-url", url) as (serve, _):
            answer = http("POST", f"{serve}/parapet/webhook", payload(alert()))
        assert len(answer["opened"]) == 1
        assert last_heartbeat(Store(engine)) is not None  # serve ran the loops in its lifespan
    finally:
        engine.dispose()
