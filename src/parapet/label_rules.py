"""The label rules of METRICS.md that need nothing but names: how many labels a metric may carry, which names
are reserved and which are unbounded by nature, and the labels an exposition adds on its own.

``parapet.metrics.labels`` applies them when a metric is defined; the cardinality lint
(``parapet_cli.analyzers.cardinality``) applies them to the host's code. This module imports only the standard
library: the lint reads them without importing prometheus_client (``parapet.metrics`` does).
"""

from __future__ import annotations

from typing import Literal

MAX_LABELS = 10

MetricKind = Literal["counter", "gauge", "histogram"]

_OTEL_SCOPE = ("otel_scope_name", "otel_scope_version", "otel_scope_schema_url")

# Exact reserved names: (why, what to use instead).
_RESERVED: dict[str, tuple[str, str]] = {
    "job": (
        "is set by Prometheus from the scrape target (a metric label of that name becomes exported_job)",
        "name what it is: service, task or worker",
    ),
    "instance": (
        "is set by Prometheus from the scrape target (a metric label of that name becomes exported_instance)",
        "name what it is: host, node or replica",
    ),
    "le": ("is the bucket bound of every histogram", "rename it, e.g. limit or threshold"),
    "quantile": ("is the quantile of every summary", "rename it, e.g. percentile_class"),
    "pid": (
        "is added by prometheus_client to multiprocess gauges",
        "drop it: multiprocess mode already tells processes apart",
    ),
}

# Reserved prefixes: (prefix, why, instead).
_RESERVED_PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("__", "starts with __, which Prometheus reserves for its internal labels", "drop the leading underscores"),
    (
        "exported_",
        "starts with exported_, which Prometheus produces when a label collides with a target label",
        "use the label's own name without the prefix",
    ),
    (
        "otel_scope_",
        "starts with otel_scope_, which the OpenTelemetry exporter injects",
        "use another name; the exporter adds the scope itself",
    ),
)

# Unbounded names: (exact names, suffixes, why, instead). Checked in order; the first match wins.
_UNBOUNDED: tuple[tuple[frozenset[str], tuple[str, ...], str, str], ...] = (
    (
        frozenset({"trace_id", "span_id", "request_id", "correlation_id"}),
        (),
        "takes one value per request",
        "leave it out of labels: Parapet attaches the trace id to histogram buckets as an exemplar, "
        "and logs carry request ids",
    ),
    (
        frozenset({"path", "url", "uri", "raw_path", "full_path"}),
        ("_path", "_url", "_uri"),
        "takes the raw URL, one value per id in it",
        "use the route template (http_route), which the framework's router gives",
    ),
    (
        frozenset({"email", "e_mail", "mail"}),
        ("_email",),
        "takes one value per person",
        "use a bounded attribute such as plan, tier or email_domain_class",
    ),
    (
        frozenset({"ip", "ip_address", "ipaddr", "client_addr", "remote_addr"}),
        ("_ip", "_ip_address"),
        "takes one value per client address",
        "use a bounded attribute such as region, network_zone or client_type",
    ),
    (
        frozenset({"token", "api_key", "password", "secret"}),
        ("_token", "_api_key", "_password", "_secret"),
        "takes one value per credential (and leaks it into Prometheus)",
        "use the authentication method (auth_method: bearer, basic, session)",
    ),
    (
        frozenset({"session", "session_key", "sessionid"}),
        ("_session",),
        "takes one value per session",
        "use a bounded attribute such as client_type or auth_method",
    ),
    (
        frozenset({"id", "uuid", "guid", "ids"}),
        ("_id", "_ids", "_uuid", "_guid"),
        "takes one value per id",
        "use a bounded category (plan, tier, region, tenant_class); ids belong in logs and exemplars",
    ),
)


def reserved_reason(name: str) -> tuple[str, str] | None:
    """Why ``name`` is reserved and what to use instead, or None."""
    if name in _RESERVED:
        return _RESERVED[name]
    for prefix, why, instead in _RESERVED_PREFIXES:
        if name.startswith(prefix):
            return why, instead
    return None


def unbounded_reason(name: str) -> tuple[str, str] | None:
    """Why ``name`` is unbounded by nature and what to use instead, or None."""
    lowered = name.lower()
    for exact, suffixes, why, instead in _UNBOUNDED:
        if lowered in exact or lowered.endswith(suffixes):
            return why, instead
    return None


def injected_labels(
    kind: MetricKind, *, multiprocess_mode: str | None = None, otel_exporter: bool = False
) -> tuple[str, ...]:
    """Labels that end up on the series without being declared: ``le``, ``pid``, ``otel_scope_*``."""
    injected: list[str] = []
    if kind == "histogram":
        injected.append("le")
    if kind == "gauge" and multiprocess_mode == "all":
        injected.append("pid")
    if otel_exporter:
        injected.extend(_OTEL_SCOPE)
    return tuple(injected)
