"""PAR401: a metric declares more labels than the ceiling."""

from __future__ import annotations

from collections.abc import Iterator

from parapet.label_rules import MetricKind, injected_labels
from parapet_cli.analyzers.cardinality.model import FileFacts, Index
from parapet_cli.analyzers.cardinality.rule import Config, Rule, metric_name
from parapet_cli.doctor.findings import Finding, Severity

_KINDS: dict[str, MetricKind] = {"histogram": "histogram", "gauge": "gauge", "counter": "counter"}


class TooManyLabels(Rule):
    """Series multiply: every label multiplies the series of a metric by the number of values it takes, so a
    metric with many labels explodes even when each label is small, and every query over it gets slower.
    METRICS.md caps a metric at 10 labels, counting ``le`` on histograms and the ``pid`` that multiprocess
    gauges in mode ``all`` get, because those are series too."""

    ID = "PAR401"
    NAME = "too-many-labels"
    TITLE = "A metric carries more labels than the ceiling"
    SEVERITY = Severity.ERROR
    MESSAGE = "metric {metric} carries {detail}"
    FIX = "drop labels that split no SLO or dashboard, or merge two labels into one bounded label"
    VALID = (
        'from prometheus_client import Counter\nC = Counter("jobs_total", "Jobs.", ["queue", "outcome"])\n',
        # ten labels on a counter is the ceiling, not past it
        "import prometheus_client as pc\n"
        'C = pc.Counter("a_total", "A.", ["l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8", "l9"])\n',
        # enum.Enum is not prometheus_client's Enum
        'import enum\nE = enum.Enum("E", ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"])\n',
    )
    INVALID = (
        # ten declared labels plus le on a histogram make eleven
        "from prometheus_client import Histogram as H\n"
        'LABELS = ("l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8", "l9")\n'
        'LATENCY = H("latency_seconds", "Latency.", LABELS)\n',
        "from prometheus_client import Gauge\n"
        'G = Gauge("g", "G.", ["l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8", "l9"], '
        'multiprocess_mode="all")\n',
        "from prometheus_client.core import CounterMetricFamily\n"
        "def collect():\n"
        '    yield CounterMetricFamily("c", "C.", labels=["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"])\n',
    )

    def check(self, facts: FileFacts, index: Index, config: Config) -> Iterator[Finding]:
        for d in facts.definitions:
            if d.labels is None:
                continue
            kind = _KINDS.get(d.kind)
            injected = injected_labels(kind, multiprocess_mode=d.multiprocess_mode) if kind else ()
            total = list(d.labels) + list(injected)
            if len(total) <= config.max_labels:
                continue
            counted = f", counting {', '.join(injected)}" if injected else ""
            yield self.finding(
                d.site,
                metric=metric_name(d),
                label=",".join(total),
                detail=f"{len(total)} labels ({', '.join(total)}{counted}); at most {config.max_labels} are allowed",
            )
