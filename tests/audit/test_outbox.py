"""The audit outbox on real databases: events are queued in the action's transaction, delivered by the work
engine, retried while a sink is down (nothing lost, counted), and sink_only keeps tool-audit details only in
the sinks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from parapet.audit import outbox
from parapet.evidence import Alert, Store, hooks
from parapet.evidence.schema import JOB_DONE, jobs, tool_audits
from parapet.evidence.store import IllegalTransition
from parapet.spec import load_spec
from parapet.spec.model import Spec
from parapet.work import Worker
from tests.evidence.conftest import Database, postgres_db, sqlite_db  # noqa: F401

SPEC = """\
version: parapet/v1
service: shop
alerting:
  runbook_url: https://wiki.example.com/runbooks/{{slo}}
slos:
  - name: availability
    objective: 99.9
    sli:
      http: {{}}
audit:
  mode: {mode}
  sinks:
{sinks}
"""
CANARY = "canary-audit-5c1e-secret"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Database:
    db: Database = request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "postgres_db")
    return db


def spec_with(tmp_path: Path, sinks: str, mode: str = "dual_write") -> Spec:
    path = tmp_path / "parapet.yaml"
    path.write_text(SPEC.format(mode=mode, sinks=sinks))
    return load_spec(path)


@pytest.fixture
def store(database: Database) -> Iterator[Store]:
    engine = database.create_all()
    try:
        yield Store(engine)
    finally:
        outbox.install(None)
        engine.dispose()


def alert(key: str = "shop/availability") -> Alert:
    return Alert(
        correlation_key=key,
        alert_name="ParapetSLOBurnRateFast",
        severity="page",
        title="availability burning",
        service="shop",
        slo="availability",
    )


def audit_jobs(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(jobs).where(jobs.c.kind == outbox.KIND).order_by(jobs.c.id)).all())


def drain(store: Store, spec: Spec, *, until: float = 10) -> Worker:
    worker = Worker(store.engine, settings=spec, poll=0.05)
    deadline = time.monotonic() + until
    while any(j.state != JOB_DONE for j in audit_jobs(store)):
        worker.run_once()
        if time.monotonic() > deadline:
            raise AssertionError(
                f"audit jobs not delivered: {[(j.key, j.state, j.last_error) for j in audit_jobs(store)]}"
            )
    worker.close()
    return worker


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_every_action_reaches_every_sink_once(store: Store, tmp_path: Path) -> None:
    spec = spec_with(
        tmp_path,
        "    - {name: a, kind: jsonl, path: a.jsonl}\n    - {name: b, kind: jsonl, path: b.jsonl}\n",
    )
    outbox.install(spec)
    incident = store.open_or_touch(alert()).incident
    store.acknowledge(incident.id, actor="alice", message="on it")
    store.add_note(incident.id, actor="alice", text="rolled back the deploy")
    store.resolve(incident.id, actor="bob")
    queued = audit_jobs(store)
    assert len(queued) == 4 * 2  # opened, acknowledged, note, resolved; two sinks
    drain(store, spec)
    for name in ("a", "b"):
        # Delivery runs in parallel threads: a receiver orders by the entry id (docs/audit.md).
        got = sorted(lines(tmp_path / f"{name}.jsonl"), key=lambda e: int(e["id"].rsplit(":", 1)[1]))
        assert [e["action"] for e in got] == ["opened", "acknowledged", "note", "resolved"]
        assert [e["actor"] for e in got] == ["system:alertmanager", "alice", "alice", "bob"]
        assert got[2]["message"] == "rolled back the deploy" and got[2]["service"] == "shop"
        assert len({e["id"] for e in got}) == 4


def test_a_change_that_rolls_back_queues_nothing(store: Store, tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "    - {name: a, kind: jsonl, path: a.jsonl}\n")
    outbox.install(spec)
    incident = store.open_or_touch(alert()).incident
    store.resolve(incident.id, actor="bob")
    before = len(audit_jobs(store))
    with pytest.raises(IllegalTransition):
        store.acknowledge(incident.id, actor="alice")
    assert len(audit_jobs(store)) == before


def test_without_sinks_nothing_is_queued(store: Store, tmp_path: Path) -> None:
    outbox.install(None)
    store.open_or_touch(alert())
    assert audit_jobs(store) == [] and "audit" not in hooks.subscribers()


def test_sink_only_keeps_tool_audit_details_in_the_sinks_alone(store: Store, tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "    - {name: a, kind: jsonl, path: a.jsonl}\n", mode="sink_only")
    outbox.install(spec)
    incident = store.open_or_touch(alert()).incident
    now = datetime.now(UTC)
    audit = store.record_action(
        incident.id,
        tool="restart-workers",
        action_key="celery@web-1",
        actor="alice",
        parameters={"queue": "emails", "api_key": "[redacted]"},
        outcome="failed",
        started_at=now - timedelta(seconds=3),
        finished_at=now,
        error="worker did not come back",
    )
    drain(store, spec)
    event = next(e for e in lines(tmp_path / "a.jsonl") if e["action"] == "action")
    assert event["tool_audit"]["parameters"] == {"queue": "emails", "api_key": "[redacted]"}
    assert event["tool_audit"]["error"] == "worker did not come back" and event["tool_audit"]["actor"] == "alice"
    with store.engine.connect() as conn:
        kept = conn.execute(select(tool_audits).where(tool_audits.c.id == audit.id)).one()
        payloads = [j.payload for j in conn.execute(select(jobs).where(jobs.c.kind == outbox.KIND)).all()]
    # What the breaker counts stays; the details are in the sink only.
    assert (kept.tool, kept.action_key, kept.outcome) == ("restart-workers", "celery@web-1", "failed")
    assert kept.parameters == {"redacted": outbox.REDACTED} and kept.error == outbox.REDACTED
    assert all(set(p) == {"sink"} for p in payloads)


def test_dual_write_keeps_everything(store: Store, tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "    - {name: a, kind: jsonl, path: a.jsonl}\n")
    outbox.install(spec)
    incident = store.open_or_touch(alert()).incident
    now = datetime.now(UTC)
    audit = store.record_action(
        incident.id,
        tool="t",
        action_key="k",
        actor="alice",
        parameters={"n": 1},
        outcome="succeeded",
        started_at=now,
        finished_at=now,
    )
    drain(store, spec)
    with store.engine.connect() as conn:
        assert conn.execute(select(tool_audits.c.parameters).where(tool_audits.c.id == audit.id)).scalar() == {"n": 1}


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.got.append((self.headers["Authorization"], body))  # type: ignore[attr-defined]
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_sink_down_for_a_minute_loses_nothing(
    store: Store,
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The HTTP sink is not listening for 60 s (on PostgreSQL; 10 s on SQLite, the same code path) while
    actions keep coming; once it listens, every event arrives (counted, by id), and the token appears in no
    log line, job row or error."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("PARAPET_TEST_AUDIT_TOKEN", CANARY)
    sink = f"{{name: siem, kind: http, url: 'http://127.0.0.1:{port}/in', token_env: PARAPET_TEST_AUDIT_TOKEN}}"
    spec = spec_with(tmp_path, f"    - {sink}\n")
    outbox.install(spec)
    worker = Worker(store.engine, settings=spec, poll=0.2)
    stop = threading.Event()
    runner = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    runner.start()
    down_for = 60.0 if database.kind == "postgresql" else 10.0
    started = time.monotonic()
    actions = 0
    try:
        incident = store.open_or_touch(alert()).incident
        actions += 1
        while time.monotonic() - started < down_for:
            store.add_note(incident.id, actor="alice", text=f"note {actions}")
            actions += 1
            time.sleep(2)
        assert not any(j.state == JOB_DONE for j in audit_jobs(store))  # nothing could be delivered
        server = ThreadingHTTPServer(("127.0.0.1", port), _Receiver)
        server.got = []  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            deadline = time.monotonic() + 90
            while len(server.got) < actions and time.monotonic() < deadline:  # type: ignore[attr-defined]
                time.sleep(0.2)
            got = list(server.got)  # type: ignore[attr-defined]
        finally:
            server.shutdown()
            server.server_close()
    finally:
        stop.set()
        runner.join(10)
        worker.close()
    ids = {body["id"] for _, body in got}
    assert len(ids) == actions, f"{len(ids)} of {actions} events arrived"
    assert all(auth == f"Bearer {CANARY}" for auth, _ in got)
    with store.engine.connect() as conn:
        rows = conn.execute(select(jobs)).all()
    assert CANARY not in repr(rows) and CANARY not in caplog.text
