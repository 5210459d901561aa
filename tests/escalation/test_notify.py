"""Escalation through the real notifier: a tier's notification is a "notify" job of the target's kind
(parapet.notify.outbox), delivered by the "notify" handler to a signed webhook on loopback; an incident
acknowledged after its step ran but before the notification went out is not paged (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from parapet.escalation import install
from parapet.escalation.steps import run_step  # noqa: F401  (registers the "escalate" handler)
from parapet.evidence import Alert, Store
from parapet.spec.model import Spec
from parapet.work import Worker
from tests.escalation.conftest import entries, jobs_of, load
from tests.web.helpers import Clock


class Receiver(HTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bodies: list[dict[str, Any]] = []


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        self.server.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def spec(tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[Spec]:
    monkeypatch.setenv("ESCALATION_TEST_SECRET", "s3cret-s3cret-s3cret")
    loaded = load(
        tmp_path,
        f"""\
notifiers:
  ops-hook:
    kind: webhook
    url: http://127.0.0.1:{receiver.server_port}/hook
    secret_env: ESCALATION_TEST_SECRET
escalation:
  policies:
    - name: hooks
      tiers:
        - {{after: 0s, notify: [ops-hook]}}
        - {{after: 10s, notify: [ops-hook]}}
""",
    )
    install(loaded)
    yield loaded
    install(None)


def test_a_tier_pages_through_the_notifier_and_an_acknowledgement_stops_its_page(
    spec: Spec, store: Store, clock: Clock, receiver: Receiver
) -> None:
    def opened(key: str) -> int:
        alert = Alert(correlation_key=key, alert_name="Burn", severity="page", title=key)
        return store.open_or_touch(alert).incident.id

    paged, acked = opened("paged"), opened("acked")
    Worker(store.engine, clock=clock, kinds=["escalate"]).run_once()
    pages = [j for j in jobs_of(store.engine, "notify") if j.payload.get("event") == "escalated"]
    assert sorted((j.payload["incident_id"], j.payload["tier"], j.payload["epoch"]) for j in pages) == [
        (paged, 0, 1),
        (acked, 0, 1),
    ]
    step = entries(store.engine, acked)[0]
    assert {j.key for j in pages if j.payload["incident_id"] == acked} == {f"ops-hook:{acked}:{step.id}"}
    store.acknowledge(acked, actor="rita")  # after the step ran, before the notification went out
    worker = Worker(store.engine, clock=clock, settings=spec, kinds=["notify"])
    for _ in range(5):
        worker.run_once()
    escalated = [b for b in receiver.bodies if b.get("event") == "escalated"]
    assert [b["incident"]["id"] for b in escalated] == [paged], receiver.bodies
    skipped = [j for j in jobs_of(store.engine, "notify") if j.payload.get("event") == "escalated"]
    assert {j.payload["incident_id"]: j.state for j in skipped} == {paged: "done", acked: "done"}
    assert next(j for j in skipped if j.payload["incident_id"] == acked).result == {
        "skipped": "acknowledged, resolved or re-escalated since"
    }
    assert [e.kind for e in store.timeline(acked) if e.kind.startswith("notif")] == []
    assert [e.data.get("target") for e in store.timeline(paged) if e.kind == "notified"] == ["ops-hook"]
