"""End to end on loopback: a host app instrumented with parapet.metrics under an OpenTelemetry span (every request
a sampled span; its 500s observed with the span's trace id as an exemplar, OpenMetrics exposition), Debian's
Prometheus started with ``--enable-feature=exemplar-storage`` scraping it and evaluating the rules ``gen slo``
wrote, Debian's Alertmanager, and ``parapet serve`` with ``prometheus.url``: the incident the alert opens gets,
from a ``trace_lookup`` job of the work engine (not the webhook's request), the trace id of one of those
requests, and the incident page links it through ``ui.trace_url``."""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from parapet.evidence.db import create_engine_for
from parapet.evidence.schema import jobs, metadata
from parapet.evidence.store import Store
from parapet.metrics import exemplars, metrics_asgi_app
from parapet.metrics.asgi import ParapetMiddleware
from tests.alerts.harness import alertmanager, binary, free_port, ok, parapet_serve, started, wait_until
from tests.web.test_browser import LiveServer

TOKEN = "exemplar-e2e-token-0123456789"
SPEC = """\
version: parapet/v1
service: shop
alerting:
  runbook_url: https://runbooks.example.com/{{slo}}
  page: {{for: 0s}}
  ticket: {{for: 0s}}
alertmanager:
  webhook_token_file: webhook.token
prometheus:
  url: {prometheus}
ui:
  trace_url: https://tempo.example.com/trace/{{trace_id}}
slos:
  - name: checkout
    objective: 99.9
    sli:
      http: {{routes: [/checkout]}}
"""


class TracedHost:
    """The host: Parapet's middleware inside one sampled OpenTelemetry server span per request."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.tracer = TracerProvider(sampler=ALWAYS_ON).get_tracer("shop")
        self.trace_ids: set[str] = set()

        async def checkout(_request: Any) -> PlainTextResponse:
            return PlainTextResponse("payment provider down", status_code=500)

        routes = [Route("/checkout", checkout), Route("/metrics", metrics_asgi_app(self.registry))]
        self.app = ParapetMiddleware(Starlette(routes=routes), registry=self.registry)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] == "/metrics":
            await self.app(scope, receive, send)
            return
        with self.tracer.start_as_current_span("GET /checkout") as span:
            self.trace_ids.add(trace.format_trace_id(span.get_span_context().trace_id))
            await self.app(scope, receive, send)


@contextlib.contextmanager
def load(url: str) -> Iterator[None]:
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                urllib.request.urlopen(url, timeout=2).read()
            time.sleep(0.05)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


@contextlib.contextmanager
def prometheus_with_exemplars(root: Path, port: int, host: str, am: str, rules: Path) -> Iterator[str]:
    fast = root / "fast.rules.yml"
    fast.write_text(rules.read_text().replace("interval: 1m", "interval: 1s"))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(fast)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [am.removeprefix("http://")]}]}]},
        "scrape_configs": [{"job_name": "shop", "static_configs": [{"targets": [host.removeprefix("http://")]}]}],
    }
    (root / "prometheus.yml").write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{port}"
    args = [
        binary("prometheus"),
        f"--config.file={root / 'prometheus.yml'}",
        f"--storage.tsdb.path={root / 'prom-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--enable-feature=exemplar-storage",
        "--rules.alert.resend-delay=1s",
    ]
    with started("prometheus", args, root / "prometheus.log", lambda: ok(f"{url}/-/ready")):
        yield url


def am_config(root: Path, serve: str) -> Path:
    config = {
        "route": {
            "receiver": "parapet",
            "group_by": ["alertname", "service", "slo"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "parapet",
                "webhook_configs": [
                    {
                        "url": f"{serve}/parapet/webhook",
                        "send_resolved": True,
                        "http_config": {"authorization": {"credentials_file": str(root / "webhook.token")}},
                    }
                ],
            }
        ],
    }
    path = root / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_alert_opens_an_incident_with_an_exemplars_trace_id(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    exemplars.reset()
    root = tmp_path / "host"
    root.mkdir()
    (root / "webhook.token").write_text(TOKEN + "\n")
    db = root / "parapet.db"
    url = f"sqlite:///{db}"
    engine = create_engine_for(url)
    metadata.create_all(engine)
    store = Store(engine)
    host = TracedHost()
    prom_port = free_port()  # the spec names Prometheus before it starts: reserve its address
    try:
        with LiveServer(host) as host_url, load(f"{host_url}/checkout"):
            spec = root / "parapet.yaml"
            spec.write_text(SPEC.format(prometheus=f"http://127.0.0.1:{prom_port}"))
            made = cli("gen", "slo", "--spec", str(spec), "--out", str(root / "rules"))
            assert made.exit_code == 0, made.output
            (rules,) = sorted((root / "rules").glob("*.rules.yml"))
            with (
                parapet_serve(root, "--spec", str(spec), "--database-url", url) as (serve, serve_proc),
                alertmanager(root, am_config(root, serve)) as (am, _),
                prometheus_with_exemplars(root, prom_port, host_url, am, rules),
            ):
                incident = wait_until("the incident to open", lambda: store.queue().items, timeout=120)[0]
                assert incident.slo == "checkout"
                carried = [{**i.labels, **i.annotations} for i in store.alert_instances(incident.id)]
                assert not any("trace" in key for one in carried for key in one)  # the alert brought no trace id
                found = wait_until("its trace id", lambda: store.get(incident.id).trace_id, timeout=90)
                assert found in host.trace_ids, (found, serve_proc.text()[-3000:])
                with engine.connect() as conn:
                    (job,) = conn.execute(jobs.select().where(jobs.c.kind == "trace_lookup")).all()
                assert job.state == "done" and job.key == str(incident.id) and job.result["trace_id"] == found
    finally:
        engine.dispose()
