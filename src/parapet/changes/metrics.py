"""Changes as a Prometheus gauge, for Grafana's deploy and flag annotations.

    parapet_change_last_timestamp_seconds{service="shop", kind="deploy"}  1767000000

The time of the newest recorded change per (service, kind), read from the store at scrape time (one grouped
query over the system events' service index; events of no service are labelled ``service=""``). Labels are
bounded: the services that record changes, and two kinds. The version and the flag names stay out of labels
(unbounded); the annotation says *that* something changed and when, the incident page and MCP say what.

Why a gauge over the store rather than a counter each process increments: every process (web, worker, CI's
``parapet mark deploy``) writes the same table, but only the process that serves ``/parapet/metrics`` is
scraped; the store holds the truth for all of them. Why the newest time rather than a count: pruning old events
(``parapet archive``) would lower a count, which Prometheus reads as a counter reset; it never changes the
newest time. The generated dashboards annotate with ``useValueForTime`` (the value, in milliseconds, is the
annotation's time), so the annotation sits at the change's own time, not at the next scrape.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from parapet.changes import KINDS
from parapet.conventions import CHANGE_LAST_TIMESTAMP, LABEL_CHANGE_KIND, LABEL_SERVICE
from parapet.evidence.schema import system_events
from parapet.evidence.store import Store


class ChangesCollector(Collector):
    """Yields the change gauge from ``store``; a database error yields no sample (the scrape still works)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def describe(self) -> Iterable[Metric]:
        return []  # no query at registration time

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            CHANGE_LAST_TIMESTAMP,
            "Unix time of the newest recorded change (deploy, flag change) per service and kind",
            labels=[LABEL_SERVICE, LABEL_CHANGE_KIND],
        )
        query = (
            select(system_events.c.service, system_events.c.kind, func.max(system_events.c.occurred_at))
            .where(system_events.c.kind.in_(KINDS))
            .group_by(system_events.c.service, system_events.c.kind)
        )
        try:
            with self.store.engine.connect() as conn:
                rows = conn.execute(query).all()
        except Exception:  # the store is down: the rest of the scrape still answers
            rows = []
        for service, kind, newest in rows:
            if newest is not None:
                family.add_metric([service or "", kind], newest.timestamp())
        yield family
