"""The label rules of METRICS.md, checked when a metric is defined.

A metric carries at most ``MAX_LABELS`` labels, counting ``le`` on histograms and the labels an exporter
injects (``pid`` on multiprocess gauges in mode ``all``, three ``otel_scope_*`` through the OpenTelemetry
exporter). Reserved names and names that are unbounded by nature are refused with a message that says what
to use instead; a name that looks unbounded but is not can be allowed explicitly with
``Label(name, allow_unbounded=True)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from parapet.metrics.errors import MetricDefinitionError

MAX_LABELS = 10
DEFAULT_VALUE_CAP = 1000
OVERFLOW = "__overflow__"

MetricKind = Literal["counter", "gauge", "histogram"]

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_OTEL_SCOPE = ("otel_scope_name", "otel_scope_version", "otel_scope_schema_url")


@dataclass(frozen=True)
class Label:
    """A label and its value rule.

    ``values`` makes the label closed: any other value is refused when it is used. An open label keeps at
    most ``cap`` distinct values per process; later new values are folded into ``__overflow__``.
    """

    name: str
    values: tuple[str, ...] | None = None
    cap: int = DEFAULT_VALUE_CAP
    allow_unbounded: bool = False

    @property
    def closed(self) -> bool:
        return self.values is not None


LabelSpec = str | Label

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


def normalize_labels(labels: Iterable[LabelSpec]) -> tuple[Label, ...]:
    return tuple(label if isinstance(label, Label) else Label(label) for label in labels)


def check_definition(
    name: str,
    kind: MetricKind,
    labels: Sequence[Label],
    *,
    multiprocess_mode: str | None = None,
    otel_exporter: bool = False,
) -> None:
    """Raise MetricDefinitionError if the metric breaks a label rule of METRICS.md."""
    if not _METRIC_NAME.match(name) or name.startswith("__"):
        raise MetricDefinitionError(
            name,
            "is not a valid metric name",
            "use lower-case words joined by _ ending in the unit, e.g. orders_processed_total or queue_wait_seconds",
        )
    seen: set[str] = set()
    for label in labels:
        if not _LABEL_NAME.match(label.name):
            raise MetricDefinitionError(
                name, f"label {label.name!r} is not a valid label name", "use letters, digits and _ (not first: digit)"
            )
        if label.name in seen:
            raise MetricDefinitionError(name, f"label {label.name!r} is declared twice", "declare each label once")
        seen.add(label.name)
        reserved = reserved_reason(label.name)
        if reserved is not None:
            raise MetricDefinitionError(name, f"label {label.name!r} is reserved: it {reserved[0]}", reserved[1])
        unbounded = unbounded_reason(label.name)
        if unbounded is not None and not label.allow_unbounded and not label.closed:
            raise MetricDefinitionError(
                name,
                f"label {label.name!r} is unbounded by nature: it {unbounded[0]}",
                f"{unbounded[1]}; if its values really are bounded, declare "
                f"Label({label.name!r}, allow_unbounded=True) or give it a closed set of values",
            )
        _check_values(name, label)
    injected = injected_labels(kind, multiprocess_mode=multiprocess_mode, otel_exporter=otel_exporter)
    total = [label.name for label in labels] + list(injected)
    if len(total) > MAX_LABELS:
        raise MetricDefinitionError(
            name,
            f"carries {len(total)} labels ({', '.join(total)}), counting {', '.join(injected) or 'none'} added "
            f"by the exposition; at most {MAX_LABELS} are allowed",
            "drop labels that do not split an SLO or a dashboard, or merge two into one bounded label",
        )


def _check_values(metric: str, label: Label) -> None:
    if label.cap < 1:
        raise MetricDefinitionError(
            metric, f"label {label.name!r} has a value cap of {label.cap}", "give a cap of at least 1 distinct value"
        )
    if label.values is None:
        return
    if not label.values:
        raise MetricDefinitionError(
            metric,
            f"label {label.name!r} is closed over no values",
            "list the values it may take, or leave values unset for an open (capped) label",
        )
    for value in label.values:
        if not isinstance(value, str):
            raise MetricDefinitionError(
                metric, f"label {label.name!r} lists {value!r}, which is not a string", "list values as strings"
            )
        if value == OVERFLOW:
            raise MetricDefinitionError(
                metric,
                f"label {label.name!r} lists {OVERFLOW!r}, which Parapet keeps for folded values",
                "remove it from the values",
            )
    if len(set(label.values)) != len(label.values):
        raise MetricDefinitionError(metric, f"label {label.name!r} lists a value twice", "list each value once")
