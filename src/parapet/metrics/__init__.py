"""The runtime metric contract (METRICS.md): bounded labels, HTTP, database and job instrumentation.

This package needs only prometheus_client. Framework integrations live in their own modules and import
their framework when used: ``parapet.metrics.asgi`` (Starlette, FastAPI), ``.wsgi`` (Flask, any WSGI),
``.django``, ``.sqlalchemy``, ``.celery``, ``.rq``, ``.procrastinate``; ``.multiprocess`` has the gunicorn
hooks.

    from parapet.metrics import Label, counter
    orders = counter("shop_orders_total", "Orders placed", ["payment_method", Label("plan", values=("free", "pro"))])
    orders.labels(payment_method="card", plan="pro").inc()
"""

from __future__ import annotations

from parapet.metrics.build import set_build_info
from parapet.metrics.contract import Contract, contract
from parapet.metrics.declare import (
    OVERFLOW_METRIC,
    CounterMetric,
    GaugeMetric,
    HistogramMetric,
    Metric,
    counter,
    gauge,
    histogram,
)
from parapet.metrics.errors import LabelValueError, MetricDefinitionError, MultiprocessError
from parapet.metrics.exposition import metrics_asgi_app, metrics_wsgi_app
from parapet.metrics.jobs import cron_job, record_job
from parapet.metrics.journeys import declare_journeys, declare_journeys_from_spec, journey
from parapet.metrics.labels import DEFAULT_VALUE_CAP, MAX_LABELS, OVERFLOW, Label

__all__ = [
    "DEFAULT_VALUE_CAP",
    "MAX_LABELS",
    "OVERFLOW",
    "OVERFLOW_METRIC",
    "Contract",
    "CounterMetric",
    "GaugeMetric",
    "HistogramMetric",
    "Label",
    "LabelValueError",
    "Metric",
    "MetricDefinitionError",
    "MultiprocessError",
    "contract",
    "counter",
    "cron_job",
    "declare_journeys",
    "declare_journeys_from_spec",
    "gauge",
    "histogram",
    "journey",
    "metrics_asgi_app",
    "metrics_wsgi_app",
    "record_job",
    "set_build_info",
]
