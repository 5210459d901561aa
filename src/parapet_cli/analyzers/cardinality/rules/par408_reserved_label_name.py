"""PAR408: a metric declares a label name that Prometheus, prometheus_client or an exporter reserves."""

from __future__ import annotations

from collections.abc import Iterator

from parapet.label_rules import reserved_reason
from parapet_cli.analyzers.cardinality.model import FileFacts, Index
from parapet_cli.analyzers.cardinality.rule import Config, Rule, metric_name
from parapet_cli.doctor.findings import Finding, Severity


class ReservedLabelName(Rule):
    """Some label names already mean something: ``job`` and ``instance`` come from the scrape target (a metric
    label of that name is renamed ``exported_job``), ``le`` and ``quantile`` belong to histograms and summaries,
    prometheus_client adds ``pid`` to multiprocess gauges (a declared ``pid`` collides with it, and one series
    per process id is unbounded across restarts), and ``__*``, ``exported_*`` and ``otel_scope_*`` are
    produced by Prometheus and the OpenTelemetry exporter. METRICS.md refuses them all."""

    ID = "PAR408"
    NAME = "reserved-label-name"
    TITLE = "A label name is reserved by Prometheus, prometheus_client or an exporter"
    SEVERITY = Severity.ERROR
    MESSAGE = "metric {metric} declares the label {label}, which {detail}"
    FIX = "rename the label to say what it is"
    VALID = (
        "from prometheus_client import Gauge\n"
        'G = Gauge("workers", "W.", ["worker_kind"], multiprocess_mode="livesum")\n',
        'from prometheus_client import Counter\nC = Counter("tasks_total", "T.", ["service", "replica"])\n',
    )
    INVALID = (
        'from prometheus_client import Gauge\nG = Gauge("rss_bytes", "RSS.", ["pid"], multiprocess_mode="all")\n',
        'from prometheus_client import Counter\nC = Counter("tasks_total", "T.", ["job"])\n',
        'from prometheus_client import Histogram\nH = Histogram("h_seconds", "H.", ["le"])\n',
    )

    def check(self, facts: FileFacts, index: Index, config: Config) -> Iterator[Finding]:
        for d in facts.definitions:
            for label in d.labels or ():
                reason = reserved_reason(label)
                if reason is not None:
                    why, instead = reason
                    yield self.finding(d.site, metric=metric_name(d), label=label, detail=why, hint=instead)
