"""Parse an exposition with prometheus_client's own parsers, and the contract as METRICS.md states it."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

DEFAULT_BOUNDS = ("0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1", "2.5", "5", "7.5", "10")


@dataclass(frozen=True)
class Family:
    type: str
    labels: frozenset[str]
    buckets: tuple[str, ...] | None = None


# METRICS.md, written out by hand: a change here is a change of public API.
CONTRACT: dict[str, Family] = {
    "http_server_request_duration_seconds": Family(
        "histogram",
        frozenset({"http_request_method", "http_route", "http_response_status_code", "error_type"}),
        DEFAULT_BOUNDS,
    ),
    "http_server_active_requests": Family("gauge", frozenset({"http_request_method"})),
    "db_client_operation_duration_seconds": Family(
        "histogram",
        frozenset({"db_system_name", "db_operation_name", "error_type"}),
        ("0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"),
    ),
    "parapet_job_duration_seconds": Family(
        "histogram",
        frozenset({"framework", "task", "queue", "outcome"}),
        ("0.01", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "120", "300", "600", "1800", "3600"),
    ),
    "parapet_job_queue_wait_seconds": Family(
        "histogram",
        frozenset({"framework", "queue"}),
        ("0.05", "0.1", "0.5", "1", "5", "10", "30", "60", "120", "300", "600", "1800", "3600", "7200"),
    ),
    "parapet_job_last_success_timestamp_seconds": Family("gauge", frozenset({"framework", "task"})),
    "parapet_journey_events": Family("counter", frozenset({"journey", "outcome"})),
    "parapet_probe_duration_seconds": Family("histogram", frozenset({"probe", "outcome"}), DEFAULT_BOUNDS),
    "parapet_probe_success": Family("gauge", frozenset({"probe"})),
    "parapet_build_info": Family("gauge", frozenset({"version", "python_version"})),
}

HTTP_FAMILIES = ("http_server_request_duration_seconds", "http_server_active_requests")


def families(text: str, *, openmetrics: bool = False) -> dict[str, Metric]:
    parse = openmetrics_families if openmetrics else text_string_to_metric_families
    return {family.name: family for family in parse(text)}


def scrape(registry: CollectorRegistry) -> dict[str, Metric]:
    return families(generate_latest(registry).decode())


def _bound(value: str) -> str:
    if value == "+Inf":
        return value
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def assert_contract(found: dict[str, Metric], names: tuple[str, ...]) -> None:
    """Each named family has exactly the contract's type, labels and bucket bounds, and carries samples."""
    for name in names:
        assert name in found, f"{name} missing from the scrape: {sorted(found)}"
        family = found[name]
        want = CONTRACT[name]
        assert family.type == want.type, (name, family.type)
        assert family.samples, f"{name} has no samples"
        for sample in family.samples:
            labels = set(sample.labels)
            if sample.name.endswith("_bucket"):
                assert "le" in labels
                labels.discard("le")
            assert labels == want.labels, (sample.name, sorted(labels))
        if want.buckets is not None:
            series: dict[tuple[tuple[str, str], ...], list[str]] = {}
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    key = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
                    series.setdefault(key, []).append(_bound(sample.labels["le"]))
            assert series, f"{name} has no buckets"
            for bounds in series.values():
                assert tuple(bounds) == (*want.buckets, "+Inf"), (name, bounds)


def parapet_families(found: dict[str, Metric]) -> set[str]:
    """Names of the scrape's families that Parapet emits (the rest are prometheus_client's collectors)."""
    return {name for name in found if name in CONTRACT or name.startswith(("parapet_", "http_server_", "db_client_"))}


def total(found: dict[str, Metric], sample_name: str, **labels: str) -> float:
    """Sum of the samples named ``sample_name`` whose labels include ``labels``."""
    return sum(
        float(sample.value)
        for family in found.values()
        for sample in family.samples
        if sample.name == sample_name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def series(found: dict[str, Metric], sample_name: str) -> list[dict[str, str]]:
    return [dict(s.labels) for f in found.values() for s in f.samples if s.name == sample_name]
