"""Query shapes of the HTTP instrumentors a host may already use (``sli.source``).

Each source names its request counter, latency histogram, the labels it puts the route, method and
status code in, how it spells status codes, its default bucket bounds, and the unit of its histogram.
The values come from each library's defaults; ``parapet`` is the contract in METRICS.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from parapet import conventions as c

_PROM_DEFAULT = ("0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1", "2.5", "5", "7.5", "10")


@dataclass(frozen=True)
class HttpSource:
    name: str
    requests: str  # counter (or histogram _count) of all requests
    route_label: str | None
    method_label: str | None
    status_label: str
    status_classes: bool  # status values are "2xx".."5xx" rather than codes
    histogram: str | None  # latency histogram base name (no _bucket suffix)
    buckets: tuple[Decimal, ...]
    unit_scale: Decimal  # histogram unit per second: 1 for seconds, 1000 for milliseconds
    histogram_has_status: bool = True


def _b(values: tuple[str, ...]) -> tuple[Decimal, ...]:
    return tuple(Decimal(v) for v in values)


_PARAPET = HttpSource(
    "parapet",
    f"{c.HTTP_DURATION}_count",
    c.LABEL_HTTP_ROUTE,
    c.LABEL_HTTP_METHOD,
    c.LABEL_HTTP_STATUS,
    False,
    c.HTTP_DURATION,
    _b(_PROM_DEFAULT),
    Decimal(1),
)

HTTP_SOURCES: dict[str, HttpSource] = {
    s.name: s
    for s in (
        _PARAPET,
        # OpenTelemetry's stable HTTP semantic conventions: the contract took its names from them.
        replace(_PARAPET, name="otel"),
        HttpSource(
            "otel-legacy",
            "http_server_duration_milliseconds_count",
            "http_target",
            "http_method",
            "http_status_code",
            False,
            "http_server_duration_milliseconds",
            _b(("0", "5", "10", "25", "50", "75", "100", "250", "500", "750", "1000", "2500", "5000", "7500", "10000")),
            Decimal(1000),
        ),
        HttpSource(
            "fastapi-instrumentator",
            "http_requests_total",
            "handler",
            "method",
            "status",
            True,
            "http_request_duration_seconds",
            _b(("0.1", "0.5", "1")),
            Decimal(1),
            histogram_has_status=False,
        ),
        HttpSource(
            "starlette-exporter",
            "starlette_requests_total",
            "path",
            "method",
            "status_code",
            False,
            "starlette_request_duration_seconds",
            _b(_PROM_DEFAULT),
            Decimal(1),
        ),
        HttpSource(
            "django-prometheus",
            "django_http_responses_total_by_status_view_method",
            "view",
            "method",
            "status",
            False,
            "django_http_requests_latency_seconds_by_view_method",
            _b(
                (
                    "0.01",
                    "0.025",
                    "0.05",
                    "0.075",
                    "0.1",
                    "0.25",
                    "0.5",
                    "0.75",
                    "1",
                    "2.5",
                    "5",
                    "7.5",
                    "10",
                    "25",
                    "50",
                    "75",
                )
            ),
            Decimal(1),
            histogram_has_status=False,
        ),
        HttpSource(
            "flask-exporter",
            "flask_http_request_total",
            None,
            "method",
            "status",
            False,
            "flask_http_request_duration_seconds",
            _b(_PROM_DEFAULT),
            Decimal(1),
        ),
    )
}

# Histograms of the metric contract other than HTTP, by base name: their bucket bounds (METRICS.md).
CONTRACT_HISTOGRAMS: dict[str, tuple[Decimal, ...]] = {
    c.HTTP_DURATION: _b(_PROM_DEFAULT),
    c.DB_DURATION: _b(
        ("0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10")
    ),
    c.JOB_DURATION: _b(
        ("0.01", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "120", "300", "600", "1800", "3600")
    ),
    c.JOB_QUEUE_WAIT: _b(
        ("0.05", "0.1", "0.5", "1", "5", "10", "30", "60", "120", "300", "600", "1800", "3600", "7200")
    ),
    c.PROBE_DURATION: _b(_PROM_DEFAULT),
}

JOB_OUTCOMES = ("success", "failure", "retry", "revoked", "timeout", "rejected", "skipped")
JOB_FRAMEWORKS = ("celery", "rq", "dramatiq", "procrastinate", "apscheduler", "cron")
HTTP_METHODS = ("CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE", "_OTHER")


def le_matcher(bound: Decimal) -> tuple[str, str, str]:
    """Match a bucket's ``le`` however the exposition spelled it: 1, 1.0 (Prometheus 3 normalises to 1)."""
    text = format_decimal(bound)
    if "." not in text:
        return ("le", "=~", f"{text}(\\.0)?")
    return ("le", "=", text)


def format_decimal(value: Decimal) -> str:
    """A number as Prometheus and people write it: 0.5, 1, 14.4, 0.000933333333333."""
    if value == 0:
        return "0"
    quantized = Decimal(format(value, ".12g")) if value != value.to_integral_value() else value
    text = format(quantized.normalize(), "f")
    return text
