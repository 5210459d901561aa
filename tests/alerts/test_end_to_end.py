"""End to end on loopback: a synthetic target that fails, Debian's Prometheus evaluating the rules `gen slo` wrote
(via `parapet install`), Debian's Alertmanager routing with the receiver `install` wrote, and `parapet serve`.
The incident opens, its timeline says so, and it resolves when the target recovers.

The only edits to what install wrote are the loopback ports, Alertmanager's timers (seconds, not minutes) and
the rule group's evaluation interval (1s instead of 1m), so the test takes seconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from parapet.evidence.db import create_engine_for
from parapet.evidence.store import Store
from tests.alerts.harness import alertmanager, parapet_serve, prometheus, wait_until
from tests.alerts.test_alertmanager import Host, incidents_of, install_host, migrate_sqlite


class SyntheticTarget:
    """Exposes synthetic_requests_total{code}: 20 errors/s while failing, then 100,000 good requests/s."""

    def __init__(self) -> None:
        self.failing = True
        self.good = 0.0
        self.bad = 0.0
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def render(self) -> bytes:
        with self.lock:
            now = time.monotonic()
            elapsed, self.last = now - self.last, now
            if self.failing:
                self.bad += 20 * elapsed
            else:
                self.good += 100_000 * elapsed
            return (
                "# TYPE synthetic_requests_total counter\n"
                f'synthetic_requests_total{{code="200"}} {self.good:.0f}\n'
                f'synthetic_requests_total{{code="500"}} {self.bad:.0f}\n'
            ).encode()


@pytest.fixture
def target() -> Iterator[tuple[SyntheticTarget, int]]:
    synthetic = SyntheticTarget()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = synthetic.render()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield synthetic, int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def prometheus_config(host: Host, am_url: str, target_port: int) -> Path:
    rules = host.root / "prometheus" / "rules" / "synth.slo.rules.yml"
    fast = host.root / "prometheus" / "e2e.rules.yml"
    text = rules.read_text()
    assert text.count("interval: 1m") == 1
    fast.write_text(text.replace("interval: 1m", "interval: 1s"))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(fast)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [am_url.removeprefix("http://")]}]}]},
        "scrape_configs": [{"job_name": "synth", "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}]}],
    }
    path = host.root / "prometheus" / "e2e.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_failing_target_opens_an_incident_that_resolves_when_it_recovers(
    tmp_path: Path, target: tuple[SyntheticTarget, int]
) -> None:
    synthetic, port = target
    host = install_host(tmp_path)
    url = migrate_sqlite(host)
    engine = create_engine_for(url)
    store = Store(engine)
    try:
        with (
            parapet_serve(host.root, "--database-url", url) as (serve, _),
            alertmanager(host.root, host.am_config(serve, repeat="1h")) as (am, _),
            prometheus(host.root, prometheus_config(host, am, port)) as (_prom, _),
        ):
            (incident,) = wait_until("the incident to open", lambda: incidents_of(store), timeout=90)
            assert incident.alert_name == "SynthAvailabilityErrorBudgetBurn"
            assert incident.correlation_key == "synth/availability"
            assert incident.opened_by == "system:alertmanager"
            assert incident.runbook_url == "https://runbooks.example.com/availability"
            wait_until("page and ticket folded in", lambda: len(store.alert_instances(incident.id)) == 2, timeout=60)
            assert store.get(incident.id).severity == "page"
            synthetic.failing = False
            wait_until("resolution", lambda: store.get(incident.id).state == "resolved", timeout=120)
        resolved = store.get(incident.id)
        kinds = [e.kind for e in store.timeline(incident.id)]
        assert resolved.resolved_by == "system:alertmanager"
        assert kinds[0] == "opened" and kinds[-1] == "resolved"
        assert set(kinds) <= {"opened", "instance_added", "severity_raised", "instance_resolved", "resolved"}
        assert {i.alert_name for i in store.alert_instances(incident.id)} == {"SynthAvailabilityErrorBudgetBurn"}
        assert {i.severity for i in store.alert_instances(incident.id)} == {"page", "ticket"}
        assert all(i.status == "resolved" and i.ends_at is not None for i in store.alert_instances(incident.id))
        assert len(incidents_of(store)) == 1
    finally:
        engine.dispose()
