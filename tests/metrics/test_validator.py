"""The label rules of METRICS.md: every refused definition with its message, closed sets and the cap."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from parapet.metrics import (
    DEFAULT_VALUE_CAP,
    OVERFLOW,
    OVERFLOW_METRIC,
    Label,
    LabelValueError,
    MetricDefinitionError,
    counter,
    gauge,
    histogram,
)
from parapet.metrics.labels import LabelSpec
from tests.metrics.scrape import scrape, series, total


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


# (id, kind, labels, extra keyword arguments, message fragment, hint fragment)
REFUSED: list[tuple[str, str, list[LabelSpec], dict[str, object], str, str]] = [
    (
        "job",
        "counter",
        ["job"],
        {},
        "label 'job' is reserved: it is set by Prometheus from the scrape target",
        "service, task or worker",
    ),
    ("instance", "counter", ["instance"], {}, "label 'instance' is reserved", "host, node or replica"),
    ("le", "counter", ["le"], {}, "label 'le' is reserved: it is the bucket bound of every histogram", "rename it"),
    (
        "quantile",
        "counter",
        ["quantile"],
        {},
        "label 'quantile' is reserved: it is the quantile of every summary",
        "rename",
    ),
    ("pid", "gauge", ["pid"], {}, "label 'pid' is reserved: it is added by prometheus_client", "multiprocess mode"),
    ("dunder", "counter", ["__name"], {}, "starts with __, which Prometheus reserves", "leading underscores"),
    ("exported", "counter", ["exported_job"], {}, "starts with exported_", "without the prefix"),
    ("otel-scope", "counter", ["otel_scope_name"], {}, "starts with otel_scope_", "adds the scope itself"),
    (
        "user-id",
        "counter",
        ["user_id"],
        {},
        "label 'user_id' is unbounded by nature: it takes one value per id",
        "plan, tier",
    ),
    ("id", "histogram", ["id"], {}, "label 'id' is unbounded by nature", "ids belong in logs and exemplars"),
    ("uuid", "counter", ["uuid"], {}, "label 'uuid' is unbounded by nature", "bounded category"),
    ("order-ids", "counter", ["order_ids"], {}, "label 'order_ids' is unbounded", "bounded category"),
    (
        "email",
        "counter",
        ["email"],
        {},
        "label 'email' is unbounded by nature: it takes one value per person",
        "plan, tier",
    ),
    ("user-email", "counter", ["user_email"], {}, "label 'user_email' is unbounded", "email_domain_class"),
    ("path", "histogram", ["path"], {}, "label 'path' is unbounded by nature: it takes the raw URL", "http_route"),
    ("url", "counter", ["url"], {}, "label 'url' is unbounded", "route template"),
    ("uri", "counter", ["uri"], {}, "label 'uri' is unbounded", "route template"),
    ("request-path", "counter", ["request_path"], {}, "label 'request_path' is unbounded", "http_route"),
    ("ip", "counter", ["ip"], {}, "label 'ip' is unbounded by nature: it takes one value per client address", "region"),
    ("client-ip", "counter", ["client_ip"], {}, "label 'client_ip' is unbounded", "network_zone"),
    (
        "token",
        "counter",
        ["token"],
        {},
        "label 'token' is unbounded by nature: it takes one value per credential",
        "auth_method",
    ),
    (
        "session",
        "counter",
        ["session"],
        {},
        "label 'session' is unbounded by nature: it takes one value per session",
        "client_type",
    ),
    (
        "trace-id",
        "histogram",
        ["trace_id"],
        {},
        "label 'trace_id' is unbounded by nature: it takes one value per request",
        "exemplar",
    ),
    ("request-id", "counter", ["request_id"], {}, "label 'request_id' is unbounded", "exemplar"),
    (
        "eleven",
        "counter",
        [f"l{i}" for i in range(11)],
        {},
        "carries 11 labels (l0, l1, l2, l3, l4, l5, l6, l7, l8, l9, l10), counting none added by the exposition; "
        "at most 10",
        "drop labels",
    ),
    (
        "histogram-le",
        "histogram",
        [f"l{i}" for i in range(10)],
        {},
        "carries 11 labels (l0, l1, l2, l3, l4, l5, l6, l7, l8, l9, le), counting le added by the exposition",
        "merge two",
    ),
    (
        "gauge-pid",
        "gauge",
        [f"l{i}" for i in range(10)],
        {},
        "carries 11 labels (l0, l1, l2, l3, l4, l5, l6, l7, l8, l9, pid), counting pid added by the exposition",
        "drop labels",
    ),
    (
        "otel-exporter",
        "counter",
        [f"l{i}" for i in range(8)],
        {"otel_exporter": True},
        "carries 11 labels (l0, l1, l2, l3, l4, l5, l6, l7, otel_scope_name, otel_scope_version, "
        "otel_scope_schema_url)",
        "drop labels",
    ),
    ("duplicate", "counter", ["plan", "plan"], {}, "label 'plan' is declared twice", "declare each label once"),
    ("bad-label-name", "counter", ["plan-name"], {}, "label 'plan-name' is not a valid label name", "letters, digits"),
    (
        "empty-closed-set",
        "counter",
        [Label("plan", values=())],
        {},
        "label 'plan' is closed over no values",
        "list the values",
    ),
    ("overflow-in-set", "counter", [Label("plan", values=("pro", OVERFLOW))], {}, "lists '__overflow__'", "remove it"),
    (
        "repeated-value",
        "counter",
        [Label("plan", values=("pro", "pro"))],
        {},
        "label 'plan' lists a value twice",
        "once",
    ),
    ("zero-cap", "counter", [Label("tenant", cap=0)], {}, "label 'tenant' has a value cap of 0", "at least 1"),
]


@pytest.mark.parametrize(
    ("kind", "labels", "extra", "message", "hint"),
    [pytest.param(*case[1:], id=case[0]) for case in REFUSED],
)
def test_refused_definition(
    registry: CollectorRegistry, kind: str, labels: list[LabelSpec], extra: dict[str, object], message: str, hint: str
) -> None:
    define = {"counter": counter, "histogram": histogram, "gauge": gauge}[kind]
    with pytest.raises(MetricDefinitionError) as caught:
        define("shop_things", "Things", labels, registry=registry, **extra)  # type: ignore[operator]
    assert caught.value.message.startswith("metric 'shop_things': ")
    assert message in caught.value.message
    assert caught.value.hint is not None and hint in caught.value.hint
    assert "shop_things" not in {m.name for m in registry.collect()}, "a refused metric must not be registered"


@pytest.mark.parametrize("name", ["2xx_total", "shop-orders", "__internal"])
def test_refused_metric_name(registry: CollectorRegistry, name: str) -> None:
    with pytest.raises(MetricDefinitionError, match="is not a valid metric name"):
        counter(name, "x", registry=registry)


def test_unbounded_names_hint_at_the_escape_hatch(registry: CollectorRegistry) -> None:
    with pytest.raises(MetricDefinitionError) as caught:
        counter("shop_orders", "x", ["customer_id"], registry=registry)
    assert "Label('customer_id', allow_unbounded=True)" in str(caught.value)


def test_allowed_on_purpose(registry: CollectorRegistry) -> None:
    # an explicit allowance, and a closed set, make an unbounded-looking name acceptable
    counter(
        "shop_shards",
        "x",
        [Label("shard_id", allow_unbounded=True), Label("path", values=("/a", "/b"))],
        registry=registry,
    )
    # bounded names that merely contain a keyword are fine
    counter(
        "shop_requests", "x", ["url_scheme", "http_route", "email_domain_class", "payment_method"], registry=registry
    )


def test_ceiling_counts_exactly_ten(registry: CollectorRegistry) -> None:
    counter("shop_ten", "x", [f"l{i}" for i in range(10)], registry=registry)
    histogram("shop_nine_and_le", "x", [f"l{i}" for i in range(9)], registry=registry)
    gauge("shop_nine_and_pid", "x", [f"l{i}" for i in range(9)], registry=registry)
    gauge("shop_ten_livesum", "x", [f"l{i}" for i in range(10)], multiprocess_mode="livesum", registry=registry)
    counter("shop_seven_and_otel", "x", [f"l{i}" for i in range(7)], otel_exporter=True, registry=registry)


def test_closed_set_refuses_other_values(registry: CollectorRegistry) -> None:
    orders = counter("shop_orders", "x", [Label("plan", values=("free", "pro"))], registry=registry)
    orders.labels(plan="pro").inc()
    with pytest.raises(LabelValueError) as caught:
        orders.labels(plan="enterprise").inc()
    assert (
        str(caught.value)
        == "metric 'shop_orders': label 'plan' is closed and does not take 'enterprise'; it takes free, pro"
    )
    assert isinstance(caught.value, ValueError)
    assert series(scrape(registry), "shop_orders_total") == [{"plan": "pro"}]


def test_labels_by_name_and_position_agree(registry: CollectorRegistry) -> None:
    orders = counter("shop_orders", "x", ["payment_method", "plan"], registry=registry)
    orders.labels(payment_method="card", plan="pro").inc()
    orders.labels("card", "pro").inc(2)
    assert total(scrape(registry), "shop_orders_total", payment_method="card", plan="pro") == 3
    with pytest.raises(ValueError, match="missing label 'plan'"):
        orders.labels(payment_method="card")
    with pytest.raises(ValueError, match=r"unknown labels \['colour'\]"):
        orders.labels(payment_method="card", plan="pro", colour="red")
    with pytest.raises(ValueError, match="expected 2 label values, got 1"):
        orders.labels("card")


def test_overflow_guard_holds_under_100000_distinct_values(registry: CollectorRegistry) -> None:
    hits = counter("shop_hits", "x", [Label("tenant_class"), Label("plan", values=("free", "pro"))], registry=registry)
    distinct = 100_000
    for i in range(distinct):
        hits.labels(f"tenant-{i}", "pro").inc()
    # values seen before the cap keep their own series after it
    hits.labels("tenant-0", "free").inc()

    found = scrape(registry)
    tenants = {s["tenant_class"] for s in series(found, "shop_hits_total")}
    assert len(tenants) == DEFAULT_VALUE_CAP + 1
    assert OVERFLOW in tenants
    assert "tenant-99999" not in tenants
    assert total(found, "shop_hits_total", tenant_class=OVERFLOW) == distinct - DEFAULT_VALUE_CAP
    assert total(found, "shop_hits_total") == distinct + 1
    assert total(found, "parapet_metric_label_overflow_total", metric="shop_hits", label="tenant_class") == (
        distinct - DEFAULT_VALUE_CAP
    )
    assert hits.distinct_values("tenant_class") == DEFAULT_VALUE_CAP
    assert OVERFLOW_METRIC == "parapet_metric_label_overflow_total"


def test_cap_per_label(registry: CollectorRegistry) -> None:
    waits = histogram("shop_wait_seconds", "x", [Label("region", cap=3)], registry=registry)
    for region in ("eu", "us", "ap", "sa", "af", "eu"):
        waits.labels(region=region).observe(0.2)
    found = scrape(registry)
    assert {s["region"] for s in series(found, "shop_wait_seconds_count")} == {"eu", "us", "ap", OVERFLOW}
    assert total(found, "shop_wait_seconds_count", region=OVERFLOW) == 2
    assert total(found, "shop_wait_seconds_count", region="eu") == 2


def test_no_overflow_metric_until_something_overflows(registry: CollectorRegistry) -> None:
    counter("shop_orders", "x", ["plan"], registry=registry).labels("pro").inc()
    assert "parapet_metric_label_overflow" not in scrape(registry)


def test_label_less_metrics(registry: CollectorRegistry) -> None:
    runs = counter("shop_runs", "x", registry=registry)
    runs.inc()
    size = gauge("shop_queue_size", "x", registry=registry)
    size.set(4)
    size.inc()
    size.dec(2)
    latency = histogram("shop_latency_seconds", "x", buckets=(0.1, 1.0), registry=registry)
    latency.observe(0.5)
    found = scrape(registry)
    assert total(found, "shop_runs_total") == 1
    assert total(found, "shop_queue_size") == 3
    assert total(found, "shop_latency_seconds_bucket", le="1.0") == 1
