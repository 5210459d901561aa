"""Exemplars carry the active OpenTelemetry span's trace id, in the OpenMetrics scrape only."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler
from prometheus_client import CollectorRegistry

from parapet.metrics import exemplars
from tests.metrics.asgi_driver import call
from tests.metrics.hosts import import_host
from tests.metrics.scrape import families

shop = import_host("fastapi_shop", "shop_fastapi")
OPENMETRICS = ((b"accept", b"application/openmetrics-text; version=1.0.0"),)


class TracedApp:
    """What OpenTelemetry's ASGI instrumentation does around the app: one server span per request."""

    def __init__(self, app: Any, sampler: Sampler) -> None:
        self.app = app
        self.tracer = TracerProvider(sampler=sampler).get_tracer("tests")
        self.trace_ids: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        with self.tracer.start_as_current_span("GET") as span:
            self.trace_ids.append(trace.format_trace_id(span.get_span_context().trace_id))
            await self.app(scope, receive, send)


@pytest.fixture(autouse=True)
def fresh_exemplar_source() -> None:
    exemplars.reset()


def _exemplars(text: str) -> list[tuple[str, dict[str, str]]]:
    found = families(text, openmetrics=True)
    return [
        (s.labels.get("http_route", ""), dict(s.exemplar.labels))
        for s in found["http_server_request_duration_seconds"].samples
        if s.exemplar is not None
    ]


def test_sampled_span_trace_id_on_the_bucket() -> None:
    registry = CollectorRegistry()
    app = TracedApp(shop.create_app(registry), ALWAYS_ON)
    asyncio.run(call(app, "GET", "/items/5"))
    _, text_body = asyncio.run(call(shop.create_app(registry), "GET", "/metrics"))
    assert b"trace_id" not in text_body, "the text format carries no exemplars"
    _, body = asyncio.run(call(shop.create_app(registry), "GET", "/metrics", headers=OPENMETRICS))
    found = _exemplars(body.decode())
    assert len(found) == 1
    route, labels = found[0]
    assert route == "/items/{item_id}"
    assert labels["trace_id"] == app.trace_ids[0]
    assert len(labels["trace_id"]) == 32 and len(labels["span_id"]) == 16


def test_unsampled_or_absent_span_leaves_no_exemplar() -> None:
    registry = CollectorRegistry()
    asyncio.run(call(TracedApp(shop.create_app(registry), ALWAYS_OFF), "GET", "/items/5"))
    asyncio.run(call(shop.create_app(registry), "GET", "/items/6"))
    _, body = asyncio.run(call(shop.create_app(registry), "GET", "/metrics", headers=OPENMETRICS))
    assert _exemplars(body.decode()) == []


def test_multiprocess_mode_computes_no_exemplar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/nonexistent")
    tracer = TracerProvider(sampler=ALWAYS_ON).get_tracer("tests")
    with tracer.start_as_current_span("job"):
        assert exemplars.trace_exemplar() is None
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    exemplars.reset()
    with tracer.start_as_current_span("job") as span:
        assert exemplars.trace_exemplar() == {
            "trace_id": trace.format_trace_id(span.get_span_context().trace_id),
            "span_id": trace.format_span_id(span.get_span_context().span_id),
        }
