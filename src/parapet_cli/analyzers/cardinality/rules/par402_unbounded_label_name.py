"""PAR402: a metric declares a label whose name says it is unbounded."""

from __future__ import annotations

from collections.abc import Iterator

from parapet_cli.analyzers.cardinality.model import Definition, FileFacts, Index, Kind, Site
from parapet_cli.analyzers.cardinality.names import unbounded_name
from parapet_cli.analyzers.cardinality.rule import Config, Rule, metric_name
from parapet_cli.doctor.findings import Confidence, Finding, Severity

# The kinds of value PAR403, PAR404 and PAR405 report; on a label PAR402 reports by name they are listed under it.
_REPORTED = frozenset({Kind.UNBOUNDED, Kind.REQUEST, Kind.EXCEPTION})


class UnboundedLabelName(Rule):
    """Some labels take a new value for every user, request, machine or moment: ids, users and emails, slugs,
    paths and URLs, IP addresses, hostnames, pods and worker node names, tokens, sessions, trace and request ids,
    timestamps and pids. Each value is a new series that Prometheus keeps in memory and on disk, so such a label
    turns one metric into millions of series. The name alone is a strong hint; a project where such a name is
    bounded (a ``region_id`` with five values) lists it in ``allow-labels`` of ``[tool.parapet.cardinality]``.
    The label is the cause: it is reported once, at the definition, and the places that set it to a value that
    is itself unbounded (what PAR403-PAR405 would report there) are listed under it, not reported again. Label
    lists are followed through module constants, class attributes and ``self.…`` set in the class's methods, as
    custom collectors (``GaugeMetricFamily(…, labels=self._labels)``) build them."""

    ID = "PAR402"
    NAME = "unbounded-label-name"
    TITLE = "A label's name says it takes unboundedly many values"
    SEVERITY = Severity.ERROR
    MESSAGE = "metric {metric} has the label {label}, which {detail}"
    FIX = "use a bounded category instead, or list the name in allow-labels of [tool.parapet.cardinality]"
    VALID = (
        'from prometheus_client import Counter\nC = Counter("logins_total", "Logins.", ["auth_method", "outcome"])\n',
        # the route template, not the path
        'from prometheus_client import Histogram\nH = Histogram("http_seconds", "HTTP.", labelnames=("http_route",))\n',
        {
            "pyproject.toml": '[tool.parapet.cardinality]\nallow-labels = ["region_id"]\n',
            "app/m.py": 'from prometheus_client import Gauge\nG = Gauge("capacity", "Capacity.", ["region_id"])\n',
        },
        # the spec's doctor: cardinality: wins over pyproject.toml, key by key
        {
            "pyproject.toml": '[tool.parapet.cardinality]\nallow-labels = ["region_id"]\n',
            "parapet.yaml": "version: parapet/v1\nservice: shop\n"
            "doctor:\n  cardinality:\n    allow_labels: [shard_id]\n"
            "slos:\n  - pack: web\n    alerting: {runbook_url: https://runbooks.example.com/web}\n",
            "app/m.py": 'from prometheus_client import Gauge\nG = Gauge("shard_lag", "Lag.", ["shard_id"])\n',
        },
        # a custom collector whose label list is built from attributes, all bounded
        "from prometheus_client.core import GaugeMetricFamily\n"
        "class QueueCollector:\n"
        '    _base = ["queue"]\n'
        "    def __init__(self):\n"
        '        self._labels = self._base + ["state"]\n'
        "    def collect(self):\n"
        '        g = GaugeMetricFamily("queue_jobs", "Jobs.", labels=self._labels)\n'
        '        g.add_metric(["default", "ready"], 3)\n'
        "        yield g\n",
    )
    INVALID = (
        # a custom collector: the label list is built from a class attribute and a module constant in __init__,
        # and add_metric() sets it; the definition is the finding, the add_metric() lines are listed under it
        "from prometheus_client.core import GaugeMetricFamily\n"
        'STACK = ["stack"]\n'
        "class UserCollector:\n"
        "    _stack_labels = STACK\n"
        "    def __init__(self, hub):\n"
        "        self.hub = hub\n"
        '        self._labels = ["username"] + self._stack_labels\n'
        "    def collect(self):\n"
        '        g = GaugeMetricFamily("hub_active_users", "Active.", labels=self._labels)\n'
        "        for user in self.hub.users:\n"
        "            g.add_metric([user.username, user.stack], 1)\n"
        "        yield g\n",
        'from prometheus_client import Counter\nPAGES = Counter("page_views", "Views.", labelnames=("slug",))\n',
        'from prometheus_client import Counter\nC = Counter("orders_total", "Orders.", ["tenant_id", "status"])\n',
        'import prometheus_client\nG = prometheus_client.Gauge("workers", "Workers.", labelnames=["hostname"])\n',
        'from prometheus_client import Histogram as H\nURL = "url"\nT = H("fetch_seconds", "Fetch.", [URL])\n',
        'from prometheus_client import Summary\nS = Summary("s", "S.", ["email", "trace_id"])\n',
        # a Celery worker's name is celery@<hostname>: one series per pod (as in flower's worker label)
        'import prometheus_client\nT = prometheus_client.Counter("tasks_total", "T.", ["worker", "task"])\n',
        # a project's own factory, declared in the configuration
        {
            "pyproject.toml": "[tool.parapet.cardinality]\n"
            'wrappers = [{ call = "app.telemetry.counter", kind = "counter", labels = 1 }]\n',
            "app/telemetry.py": "from prometheus_client import Counter\n"
            "def counter(name, labels):\n    return Counter(name, name, labels)\n",
            "app/orders.py": "from app.telemetry import counter\n"
            'ORDERS = counter("orders_total", ["customer_email"])\n',
        },
        # OpenTelemetry: the attribute keys at add()/record() are the labels
        "from opentelemetry import metrics\n"
        'meter = metrics.get_meter("shop")\n'
        'ORDERS = meter.create_counter("orders")\n'
        'def order(kind, session_key):\n    ORDERS.add(1, {"kind": kind, "session": session_key})\n',
    )

    def check(self, facts: FileFacts, index: Index, config: Config) -> Iterator[Finding]:
        named: list[tuple[Site, Definition, str]] = [
            (d.site, d, label) for d in facts.definitions for label in d.labels or ()
        ]
        for use in facts.uses:  # OpenTelemetry instruments name their attributes where they are recorded
            resolved = index.resolve(use)
            if resolved is not None and resolved[0].otel:
                named += [(use.site, resolved[0], key) for key, _ in use.keywords]
        for site, definition, label in named:
            reason = unbounded_name(label)
            if reason is None or config.allowed(label):
                continue
            why, instead = reason
            related, severity, confidence = self.value_sites(definition, label, index)
            yield self.finding(
                site,
                metric=metric_name(definition),
                label=label,
                detail=why,
                hint=f"{instead}; if its values really are bounded, list {label!r} in allow-labels "
                "of [tool.parapet.cardinality]",
                severity=severity,
                confidence=confidence,
                cause=(definition.key or definition.site, label),
                related=related,
            )

    @staticmethod
    def value_sites(
        definition: Definition, label: str, index: Index
    ) -> tuple[list[tuple[Site, str]], Severity, Confidence]:
        """The places that set ``label`` of ``definition`` to a value that is itself unbounded (what PAR403-405
        would report there), the finding's severity and its confidence: the label is one cause, reported once."""
        related: list[tuple[Site, str]] = []
        confidence = Confidence.MEDIUM
        for use in index.uses_of(definition):
            labels = definition.labels or ()
            values = [(labels[i], v) for i, v in enumerate(use.positional) if i < len(labels)] + list(use.keywords)
            for name, value in values:
                if name == label and value.kind in _REPORTED:
                    related.append((use.site, f"{label} = {value.code}: {value.reason}"))
                    if value.confidence is Confidence.HIGH:
                        confidence = Confidence.HIGH
        return related, Severity.ERROR, confidence
