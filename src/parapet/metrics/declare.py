"""Declare metrics that keep the label contract: ``counter``, ``histogram`` and ``gauge``.

Each wraps a prometheus_client metric. The definition is checked by ``labels.check_definition``; each
use checks values: a closed label refuses a value outside its set, an open label keeps at most ``cap``
distinct values per process and folds the rest into ``__overflow__``, counting every fold in
``parapet_metric_label_overflow_total{metric,label}``.

Children are cached by their label values, so a repeated series costs one dictionary look-up (cheaper
than prometheus_client's own ``labels()``); only values that were not folded are cached, so the cache
is bounded by the number of series.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Sequence
from typing import Generic, Literal, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from parapet.metrics.errors import LabelValueError
from parapet.metrics.labels import OVERFLOW, Label, LabelSpec, MetricKind, check_definition, normalize_labels

OVERFLOW_METRIC = "parapet_metric_label_overflow_total"

MultiprocessMode = Literal[
    "all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent", "livemostrecent"
]

M = TypeVar("M", bound=MetricWrapperBase)

_overflow_lock = threading.Lock()
_overflow_counters: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = weakref.WeakKeyDictionary()


def _registry(registry: CollectorRegistry | None) -> CollectorRegistry:
    return REGISTRY if registry is None else registry


def overflow_counter(registry: CollectorRegistry | None = None) -> Counter:
    """The counter of folded values in ``registry``, created on first use."""
    reg = _registry(registry)
    counter = _overflow_counters.get(reg)
    if counter is not None:
        return counter
    with _overflow_lock:
        counter = _overflow_counters.get(reg)
        if counter is None:
            check_definition(OVERFLOW_METRIC, "counter", (Label("metric"), Label("label")))
            counter = Counter(
                OVERFLOW_METRIC,
                "Label values folded into __overflow__ because the label reached its cap of distinct values",
                ("metric", "label"),
                registry=reg,
            )
            _overflow_counters[reg] = counter
    return counter


class Metric(Generic[M]):
    """A prometheus_client metric whose label values are checked and capped."""

    def __init__(self, name: str, raw: M, labels: tuple[Label, ...], registry: CollectorRegistry) -> None:
        self.name = name
        self.raw = raw
        self.label_specs = labels
        self.label_names = tuple(label.name for label in labels)
        self._registry = registry
        self._allowed: list[frozenset[str] | None] = [
            frozenset(label.values) if label.values is not None else None for label in labels
        ]
        self._seen: list[set[str]] = [set() for _ in labels]
        self._cache: dict[tuple[str, ...], M] = {}
        self._lock = threading.Lock()

    def labels(self, *values: object, **by_name: object) -> M:
        """The child for these label values (positional, or by name)."""
        if by_name:
            if values:
                raise ValueError(f"metric {self.name!r}: pass label values by position or by name, not both")
            try:
                values = tuple(by_name[name] for name in self.label_names)
            except KeyError as exc:
                raise ValueError(f"metric {self.name!r}: missing label {exc.args[0]!r}") from None
            if len(by_name) != len(self.label_names):
                extra = sorted(set(by_name) - set(self.label_names))
                raise ValueError(f"metric {self.name!r}: unknown labels {extra}")
        key = tuple(v if isinstance(v, str) else str(v) for v in values)
        child = self._cache.get(key)
        if child is None:
            child = self._resolve(key)
        return child

    def child(self, key: tuple[str, ...]) -> M:
        """Fast path for instrumentation: ``key`` is a tuple of str in label order."""
        child = self._cache.get(key)
        if child is None:
            child = self._resolve(key)
        return child

    def allow(self, label: str, values: Iterable[str]) -> None:
        """Add values to a closed label's set (journeys are declared over time)."""
        index = self.label_names.index(label)
        current = self._allowed[index]
        if current is None:
            raise ValueError(f"metric {self.name!r}: label {label!r} is open, not closed")
        self._allowed[index] = current | frozenset(values)

    def allowed(self, label: str) -> frozenset[str] | None:
        return self._allowed[self.label_names.index(label)]

    def _resolve(self, key: tuple[str, ...]) -> M:
        if len(key) != len(self.label_names):
            raise ValueError(f"metric {self.name!r}: expected {len(self.label_names)} label values, got {len(key)}")
        resolved: list[str] = []
        folded: list[str] = []
        with self._lock:
            for index, value in enumerate(key):
                allowed = self._allowed[index]
                spec = self.label_specs[index]
                if allowed is not None:
                    if value not in allowed:
                        shown = value if len(value) <= 64 else value[:61] + "..."
                        raise LabelValueError(
                            f"metric {self.name!r}: label {spec.name!r} is closed and does not take {shown!r}; "
                            f"it takes {', '.join(sorted(allowed))}"
                        )
                    resolved.append(value)
                    continue
                seen = self._seen[index]
                if value in seen:
                    resolved.append(value)
                elif len(seen) < spec.cap:
                    seen.add(value)
                    resolved.append(value)
                else:
                    resolved.append(OVERFLOW)
                    folded.append(spec.name)
        child = self.raw.labels(*resolved)
        if folded:
            counter = overflow_counter(self._registry)
            for label in folded:
                counter.labels(self.name, label).inc()
        else:
            self._cache[key] = child
        return child

    def distinct_values(self, label: str) -> int:
        """How many distinct values an open label has taken in this process (at most its cap)."""
        return len(self._seen[self.label_names.index(label)])


class CounterMetric(Metric[Counter]):
    def inc(self, amount: float = 1, exemplar: dict[str, str] | None = None) -> None:
        self.raw.inc(amount, exemplar)


class HistogramMetric(Metric[Histogram]):
    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        self.raw.observe(amount, exemplar)


class GaugeMetric(Metric[Gauge]):
    def set(self, value: float) -> None:
        self.raw.set(value)

    def inc(self, amount: float = 1) -> None:
        self.raw.inc(amount)

    def dec(self, amount: float = 1) -> None:
        self.raw.dec(amount)


def _prepare(
    name: str,
    kind: MetricKind,
    labels: Sequence[LabelSpec],
    *,
    multiprocess_mode: str | None = None,
    otel_exporter: bool = False,
) -> tuple[Label, ...]:
    specs = normalize_labels(labels)
    check_definition(name, kind, specs, multiprocess_mode=multiprocess_mode, otel_exporter=otel_exporter)
    return specs


def counter(
    name: str,
    documentation: str,
    labels: Sequence[LabelSpec] = (),
    *,
    registry: CollectorRegistry | None = None,
    otel_exporter: bool = False,
) -> CounterMetric:
    """A counter whose labels keep the contract. ``registry`` defaults to prometheus_client's REGISTRY."""
    specs = _prepare(name, "counter", labels, otel_exporter=otel_exporter)
    reg = _registry(registry)
    raw = Counter(name, documentation, [s.name for s in specs], registry=reg)
    return CounterMetric(name, raw, specs, reg)


def histogram(
    name: str,
    documentation: str,
    labels: Sequence[LabelSpec] = (),
    *,
    buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS,
    registry: CollectorRegistry | None = None,
    otel_exporter: bool = False,
) -> HistogramMetric:
    """A histogram whose labels keep the contract (``le`` counts towards the ceiling)."""
    specs = _prepare(name, "histogram", labels, otel_exporter=otel_exporter)
    reg = _registry(registry)
    raw = Histogram(name, documentation, [s.name for s in specs], registry=reg, buckets=tuple(buckets))
    return HistogramMetric(name, raw, specs, reg)


def gauge(
    name: str,
    documentation: str,
    labels: Sequence[LabelSpec] = (),
    *,
    multiprocess_mode: MultiprocessMode = "all",
    registry: CollectorRegistry | None = None,
    otel_exporter: bool = False,
) -> GaugeMetric:
    """A gauge whose labels keep the contract (mode ``all`` adds ``pid`` in multiprocess mode)."""
    specs = _prepare(name, "gauge", labels, multiprocess_mode=multiprocess_mode, otel_exporter=otel_exporter)
    reg = _registry(registry)
    raw = Gauge(name, documentation, [s.name for s in specs], registry=reg, multiprocess_mode=multiprocess_mode)
    return GaugeMetric(name, raw, specs, reg)
