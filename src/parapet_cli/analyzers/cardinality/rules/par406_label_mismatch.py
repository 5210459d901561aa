"""PAR406: ``.labels()`` (or ``.remove()``, ``.add_metric()``) does not match the metric's label names."""

from __future__ import annotations

from collections.abc import Iterator

from parapet_cli.analyzers.cardinality.model import Definition, FileFacts, Index, Use
from parapet_cli.analyzers.cardinality.rule import Config, Rule, metric_name
from parapet_cli.doctor.findings import Finding, Severity


def mismatch(use: Use, labels: tuple[str, ...]) -> str | None:
    """What prometheus_client will raise ValueError about, in words, or None."""
    if use.star:
        return None
    if use.method == "labels" and not labels:
        return "the metric declares no labels, so .labels() raises ValueError"
    if use.positional and use.keywords:
        return "positional and keyword label values are mixed, which raises ValueError"
    if use.keywords:
        given = {k for k, _ in use.keywords}
        if given != set(labels):
            missing = sorted(set(labels) - given)
            unknown = sorted(given - set(labels))
            parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
                [f"unknown {', '.join(unknown)}"] if unknown else []
            )
            return f"the label names given do not match ({'; '.join(parts)})"
        return None
    if len(use.positional) != len(labels):
        return f"{len(use.positional)} values are given for {len(labels)} labels"
    return None


class LabelMismatch(Rule):
    """prometheus_client checks label values against the declared names only when the line runs: a missing,
    extra or misspelt label is a ``ValueError`` in production, often on an error path that tests never take,
    and the metric that should have explained the failure is the next failure."""

    ID = "PAR406"
    NAME = "label-mismatch"
    TITLE = "Label values do not match the metric's label names (a ValueError at run time)"
    SEVERITY = Severity.ERROR
    MESSAGE = "metric {metric} ({label}): {detail}"
    FIX = "pass exactly the declared label names, all by position or all by keyword"
    VALID = (
        "from prometheus_client import Counter\n"
        'C = Counter("c_total", "C.", ["queue", "outcome"])\n'
        'C.labels("mail", "ok").inc()\nC.labels(outcome="ok", queue="mail").inc()\nC.remove("mail", "ok")\n',
        # a list without a metric behind it is not a metric
        "items = [1, 2]\nitems.remove(1)\n",
        "from prometheus_client import Counter\nC = Counter(\"c_total\", \"C.\", ['a'])\nargs = ['x']\n"
        "C.labels(*args).inc()\n",
    )
    INVALID = (
        "from prometheus_client import Counter\n"
        'C = Counter("c_total", "C.", ["queue", "outcome"])\nC.labels("mail").inc()\n',
        "from prometheus_client import Counter\n"
        'C = Counter("c_total", "C.", ["queue"])\nC.labels(queue_name="mail").inc()\n',
        {
            "app/metrics.py": "from prometheus_client import Histogram\n"
            "class Metrics:\n    def __init__(self):\n"
            '        self.latency = Histogram("latency_seconds", "L.", ["route"])\n'
            "    def observe(self, route, status, seconds):\n"
            "        self.latency.labels(route, status).observe(seconds)\n",
        },
        "from prometheus_client.core import GaugeMetricFamily\n"
        "def collect():\n"
        '    g = GaugeMetricFamily("queue_depth", "Depth.", labels=["queue"])\n'
        '    g.add_metric(["mail", "eu"], 3)\n    yield g\n',
        'from prometheus_client import Gauge\nUP = Gauge("up", "Up.")\nUP.labels("x").set(1)\n',
        # a project's factory reached through an attribute, declared as a pattern
        {
            "pyproject.toml": "[tool.parapet.cardinality]\nwrappers = [\n"
            '  { call = "*.metrics.histogram", kind = "histogram", name = "metric", labels = "labels" },\n]\n',
            "app/jobs.py": "class Worker:\n"
            "    def __init__(self, metrics):\n"
            '        self.duration = metrics.histogram(metric="job_seconds", labels=["queue"])\n'
            "    def done(self, queue, task, seconds):\n"
            "        self.duration.labels(queue, task).observe(seconds)\n",
        },
    )

    def check(self, facts: FileFacts, index: Index, config: Config) -> Iterator[Finding]:
        for use in facts.uses:
            resolved = index.resolve(use)
            if resolved is None:
                continue
            definition, confidence = resolved
            if definition.labels is None:
                continue
            detail = mismatch(use, definition.labels)
            if detail is not None:
                yield self.finding(
                    use.site,
                    metric=metric_name(definition),
                    label=",".join(definition.labels) or "no labels",
                    detail=f"{detail}; declared at {_where(definition)}",
                    confidence=confidence,
                )


def _where(d: Definition) -> str:
    return f"{d.site.path}:{d.site.line}"
