"""Trace ids: read from an alert's annotations or labels (any common spelling, only well-formed ids), picked from
Prometheus exemplars, and linked from the incident page through ``ui.trace_url``, percent-encoded."""

from __future__ import annotations

from decimal import Decimal

import pytest

from parapet.alerts.correlation import Correlator
from parapet.alerts.intake import ingest
from parapet.alerts.payload import parse_payload
from parapet.alerts.traces import exemplar_query, pick_trace_id, trace_id_from
from parapet.evidence import Store
from parapet.spec.model import SLI, SLO, SLIKind
from parapet.web.ui import trace_href
from tests.alerts.conftest import alert, payload

W3C = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    ("annotations", "labels", "found"),
    [
        ({"trace_id": W3C}, {}, W3C),
        ({"traceID": W3C.upper()}, {}, W3C),  # Tempo's and Jaeger's spelling, upper-case hex
        ({}, {"traceId": "00f067aa0ba902b7"}, "00f067aa0ba902b7"),  # a 64-bit Jaeger id
        ({"trace-id": W3C}, {"trace_id": "ffffffffffffffff"}, W3C),  # annotations first
        ({"trace_id": "not-a-trace"}, {"trace.id": W3C}, W3C),  # a malformed one is skipped
        ({"trace_id": "<script>"}, {}, None),
        ({"trace_id": W3C + "00"}, {}, None),  # too long
        ({"span_id": "00f067aa0ba902b7"}, {}, None),
    ],
)
def test_trace_id_from_alert(annotations: dict[str, str], labels: dict[str, str], found: str | None) -> None:
    assert trace_id_from(annotations, labels) == found


def _slo(errors: str | None, total: str, good: str | None = None) -> SLO:
    return SLO("availability", Decimal("99.9"), SLI(SLIKind.HTTP, total=total, errors=errors, good=good))


def test_the_exemplar_query_reads_the_bad_events_buckets() -> None:
    slo = _slo(
        'sum(rate(http_server_request_duration_seconds_count{http_response_status_code=~"5.."}[{{window}}]))',
        "sum(rate(http_server_request_duration_seconds_count[{{window}}]))",
    )
    assert exemplar_query(slo) == (
        'sum(rate(http_server_request_duration_seconds_bucket{http_response_status_code=~"5.."}[5m]))'
    )
    latency = _slo(None, "sum(rate(h_count[{{window}}]))", good='sum(rate(h_bucket{le="0.5"}[{{window}}]))')
    assert exemplar_query(latency) == "sum(rate(h_bucket[5m]))"


def test_the_slowest_exemplar_wins() -> None:
    series = [
        {
            "seriesLabels": {"le": "0.1"},
            "exemplars": [{"labels": {"trace_id": "a" * 32}, "value": "0.05", "timestamp": 10}],
        },
        {
            "seriesLabels": {"le": "+Inf"},
            "exemplars": [
                {"labels": {"trace_id": "b" * 32}, "value": "2.5", "timestamp": 11},
                {"labels": {"traceID": "c" * 32}, "value": "2.5", "timestamp": 12},  # a tie: the latest
                {"labels": {"span_id": "d" * 16}, "value": "9", "timestamp": 13},  # no trace id
                {"labels": {"trace_id": "zz"}, "value": "9", "timestamp": 13},  # malformed
            ],
        },
    ]
    assert pick_trace_id(series) == "c" * 32
    assert pick_trace_id([]) is None


@pytest.mark.parametrize(
    ("template", "trace_id", "href"),
    [
        ("https://tempo.example/explore?trace={trace_id}", W3C, f"https://tempo.example/explore?trace={W3C}"),
        (
            "https://jaeger.example/trace/{trace_id}",
            "a/../b?x=1&y",
            "https://jaeger.example/trace/a%2F..%2Fb%3Fx%3D1%26y",
        ),
        (
            "https://ui.honeycomb.io/team/environments/prod/trace?trace_id={trace_id}",
            W3C,
            f"https://ui.honeycomb.io/team/environments/prod/trace?trace_id={W3C}",
        ),
        ("javascript:alert(1)//{trace_id}", W3C, None),
        (None, W3C, None),
        ("https://tempo.example/{trace_id}", None, None),
    ],
)
def test_the_trace_link_is_escaped_and_http_only(template: str | None, trace_id: str | None, href: str | None) -> None:
    assert trace_href(template, trace_id) == href


def test_the_intake_keeps_the_alerts_trace_id(store: Store) -> None:
    body = payload(
        alert("CheckoutErrors", annotations={"summary": "s", "traceID": W3C.upper()}, service="shop"),
        alert("Other", annotations={"summary": "s", "trace_id": "javascript:alert(1)"}, service="shop"),
        group_labels={},
    )
    ingest(store, parse_payload(body), Correlator.from_spec(None))
    trace_ids = sorted((i.alert_name, i.trace_id) for i in store.queue().items)
    assert trace_ids == [("CheckoutErrors", W3C), ("Other", None)]
