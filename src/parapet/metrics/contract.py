"""The metric contract of METRICS.md, one set per registry, each family created on first use.

Metric and label names come from ``parapet.conventions`` (re-exported here), bucket bounds and closed label
sets from ``parapet.spec.sources`` (the same bounds the SLO generator checks thresholds against), so the
helpers and the generated rules cannot drift apart.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import CollectorRegistry

from parapet.conventions import (
    BUILD_INFO,
    CHANGE_LAST_TIMESTAMP,
    DB_DURATION,
    HTTP_ACTIVE,
    HTTP_DURATION,
    JOB_DURATION,
    JOB_LAST_SUCCESS,
    JOB_QUEUE_WAIT,
    JOURNEY_EVENTS,
    LABEL_HTTP_METHOD,
    LABEL_HTTP_ROUTE,
    LABEL_HTTP_STATUS,
    LABEL_JOB_FRAMEWORK,
    LABEL_JOB_QUEUE,
    LABEL_JOB_TASK,
    LABEL_JOURNEY,
    LABEL_OUTCOME,
    LABEL_PROBE,
    PROBE_DURATION,
    PROBE_OUTCOMES,
    PROBE_SUCCESS,
)
from parapet.metrics.declare import (
    CounterMetric,
    GaugeMetric,
    HistogramMetric,
    _registry,
    counter,
    gauge,
    histogram,
)
from parapet.metrics.labels import Label
from parapet.spec.sources import CONTRACT_HISTOGRAMS, HTTP_METHODS, JOB_FRAMEWORKS, JOB_OUTCOMES

# The closed set of db_operation_name: the statement's first keyword, anything else is OTHER.
DB_OPERATIONS = (
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "MERGE",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE",
    "CREATE",
    "ALTER",
    "DROP",
    "TRUNCATE",
    "OTHER",
)
JOURNEY_OUTCOMES = ("success", "failure")
HTTP_METHOD_SET = frozenset(HTTP_METHODS) - {"_OTHER"}

T = TypeVar("T")


def buckets(name: str) -> tuple[float, ...]:
    return tuple(float(b) for b in CONTRACT_HISTOGRAMS[name])


class Contract:
    """The contract's families in one registry. Use ``contract(registry)``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._lock = threading.RLock()
        self._families: dict[str, object] = {}

    def _get(self, name: str, make: Callable[[], T]) -> T:
        family = self._families.get(name)
        if family is None:
            with self._lock:
                family = self._families.get(name)
                if family is None:
                    family = make()
                    self._families[name] = family
        return family  # type: ignore[return-value]

    @property
    def http_duration(self) -> HistogramMetric:
        return self._get(HTTP_DURATION, self._http_duration)

    def _http_duration(self) -> HistogramMetric:
        return histogram(
            HTTP_DURATION,
            "Duration of HTTP server requests, to the end of the response body",
            (
                Label(LABEL_HTTP_METHOD, values=HTTP_METHODS),
                Label(LABEL_HTTP_ROUTE),
                Label(LABEL_HTTP_STATUS),
                Label("error_type"),
            ),
            buckets=buckets(HTTP_DURATION),
            registry=self.registry,
        )

    @property
    def http_active(self) -> GaugeMetric:
        return self._get(HTTP_ACTIVE, self._http_active)

    def _http_active(self) -> GaugeMetric:
        return gauge(
            HTTP_ACTIVE,
            "HTTP server requests in flight",
            (Label(LABEL_HTTP_METHOD, values=HTTP_METHODS),),
            multiprocess_mode="livesum",
            registry=self.registry,
        )

    @property
    def db_duration(self) -> HistogramMetric:
        return self._get(DB_DURATION, self._db_duration)

    def _db_duration(self) -> HistogramMetric:
        return histogram(
            DB_DURATION,
            "Duration of database client operations",
            (Label("db_system_name"), Label("db_operation_name", values=DB_OPERATIONS), Label("error_type")),
            buckets=buckets(DB_DURATION),
            registry=self.registry,
        )

    @property
    def job_duration(self) -> HistogramMetric:
        return self._get(JOB_DURATION, self._job_duration)

    def _job_duration(self) -> HistogramMetric:
        return histogram(
            JOB_DURATION,
            "Duration of background jobs, by outcome",
            (
                Label(LABEL_JOB_FRAMEWORK, values=JOB_FRAMEWORKS),
                Label(LABEL_JOB_TASK),
                Label(LABEL_JOB_QUEUE),
                Label(LABEL_OUTCOME, values=JOB_OUTCOMES),
            ),
            buckets=buckets(JOB_DURATION),
            registry=self.registry,
        )

    @property
    def job_queue_wait(self) -> HistogramMetric:
        return self._get(JOB_QUEUE_WAIT, self._job_queue_wait)

    def _job_queue_wait(self) -> HistogramMetric:
        return histogram(
            JOB_QUEUE_WAIT,
            "Time jobs waited in their queue before a worker started them",
            (Label(LABEL_JOB_FRAMEWORK, values=JOB_FRAMEWORKS), Label(LABEL_JOB_QUEUE)),
            buckets=buckets(JOB_QUEUE_WAIT),
            registry=self.registry,
        )

    @property
    def job_last_success(self) -> GaugeMetric:
        return self._get(JOB_LAST_SUCCESS, self._job_last_success)

    def _job_last_success(self) -> GaugeMetric:
        return gauge(
            JOB_LAST_SUCCESS,
            "Unix time of the last successful run of each task",
            (Label(LABEL_JOB_FRAMEWORK, values=JOB_FRAMEWORKS), Label(LABEL_JOB_TASK)),
            multiprocess_mode="max",
            registry=self.registry,
        )

    def journey_events(self, declared: tuple[str, ...]) -> CounterMetric:
        """The journeys counter; the first call fixes the closed set, later calls extend it."""
        with self._lock:
            family = self._families.get(JOURNEY_EVENTS)
            if family is None:
                family = counter(
                    JOURNEY_EVENTS,
                    "User journey outcomes (declared journeys only)",
                    (Label(LABEL_JOURNEY, values=declared), Label(LABEL_OUTCOME, values=JOURNEY_OUTCOMES)),
                    registry=self.registry,
                )
                self._families[JOURNEY_EVENTS] = family
            else:
                assert isinstance(family, CounterMetric)
                family.allow(LABEL_JOURNEY, declared)
        assert isinstance(family, CounterMetric)
        return family

    def journeys(self) -> CounterMetric | None:
        family = self._families.get(JOURNEY_EVENTS)
        return family if isinstance(family, CounterMetric) else None

    @property
    def probe_duration(self) -> HistogramMetric:
        return self._get(PROBE_DURATION, self._probe_duration)

    def _probe_duration(self) -> HistogramMetric:
        return histogram(
            PROBE_DURATION,
            "Duration of synthetic probe runs, by outcome (success, failure, timeout, error)",
            (Label(LABEL_PROBE), Label(LABEL_OUTCOME, values=PROBE_OUTCOMES)),
            buckets=buckets(PROBE_DURATION),
            registry=self.registry,
        )

    @property
    def probe_success(self) -> GaugeMetric:
        return self._get(PROBE_SUCCESS, self._probe_success)

    def _probe_success(self) -> GaugeMetric:
        return gauge(
            PROBE_SUCCESS,
            "1 if the last run of the probe succeeded, else 0",
            (Label(LABEL_PROBE),),
            multiprocess_mode="mostrecent",  # the newest run wins, whichever process ran it
            registry=self.registry,
        )

    @property
    def build_info(self) -> GaugeMetric:
        return self._get(BUILD_INFO, self._build_info)

    def _build_info(self) -> GaugeMetric:
        return gauge(
            BUILD_INFO,
            "The running build (always 1); a change of version marks a deploy",
            (Label("version", cap=16), Label("python_version", cap=4)),
            multiprocess_mode="max",
            registry=self.registry,
        )


_lock = threading.Lock()
_contracts: weakref.WeakKeyDictionary[CollectorRegistry, Contract] = weakref.WeakKeyDictionary()


def contract(registry: CollectorRegistry | None = None) -> Contract:
    """The contract's families in ``registry`` (prometheus_client's REGISTRY by default)."""
    reg = _registry(registry)
    found = _contracts.get(reg)
    if found is None:
        with _lock:
            found = _contracts.get(reg)
            if found is None:
                found = Contract(reg)
                _contracts[reg] = found
    return found


# CHANGE_LAST_TIMESTAMP is part of the contract too, but no process instruments it: parapet.changes.metrics
# reads it from the store at scrape time (Parapet's /metrics).
__all__ = [
    "BUILD_INFO",
    "CHANGE_LAST_TIMESTAMP",
    "DB_DURATION",
    "DB_OPERATIONS",
    "HTTP_ACTIVE",
    "HTTP_DURATION",
    "HTTP_METHOD_SET",
    "JOB_DURATION",
    "JOB_LAST_SUCCESS",
    "JOB_QUEUE_WAIT",
    "JOURNEY_EVENTS",
    "JOURNEY_OUTCOMES",
    "PROBE_DURATION",
    "PROBE_SUCCESS",
    "Contract",
    "buckets",
    "contract",
]
