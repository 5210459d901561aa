"""PAR409: a histogram's buckets times its label combinations exceed the series budget."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from parapet_cli.analyzers.cardinality.config import DEFAULT_BUCKETS
from parapet_cli.analyzers.cardinality.model import Definition, FileFacts, Index, Kind
from parapet_cli.analyzers.cardinality.rule import Config, Rule, metric_name
from parapet_cli.doctor.findings import Confidence, Finding, Severity

# Labels whose values a standard closes: the nine HTTP methods and _OTHER (METRICS.md).
KNOWN_SIZES: dict[str, int] = {"method": 10, "http_method": 10, "http_request_method": 10, "request_method": 10}


@dataclass(frozen=True)
class Size:
    label: str
    values: int
    source: str  # "configured", "literals", "standard" or "assumed"


def _literal(code: str) -> object | None:
    try:
        value = ast.literal_eval(code)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, str | int | float | bool) else None


def label_sizes(definition: Definition, labels: tuple[str, ...], index: Index, config: Config) -> list[Size]:
    """How many values each label takes: configured (``label-sizes``), else the distinct literals every use in the
    repository passes (when all of them are literals), else a standard's closed set, else ``label-fanout``."""
    seen: dict[str, set[object]] = {label: set() for label in labels}
    open_: set[str] = set()
    uses = index.uses_of(definition)
    for use in uses:
        if use.star:
            open_.update(labels)
            continue
        pairs = [(labels[i] if i < len(labels) else "", v) for i, v in enumerate(use.positional)]
        for label, value in [*pairs, *use.keywords]:
            if label not in seen:
                continue
            literal = _literal(value.code) if value.kind is Kind.BOUNDED else None
            if literal is None:
                open_.add(label)
            else:
                seen[label].add(literal)
    out = []
    for label in labels:
        configured = config.size_of(label)
        if configured is not None:
            out.append(Size(label, configured, "configured"))
        elif uses and label not in open_ and seen[label]:
            out.append(Size(label, len(seen[label]), "literals"))
        elif label in KNOWN_SIZES:
            out.append(Size(label, KNOWN_SIZES[label], "standard"))
        else:
            out.append(Size(label, config.label_fanout, "assumed"))
    return out


def otel_attributes(definition: Definition, index: Index) -> tuple[str, ...] | None:
    """An OpenTelemetry instrument's attribute keys, gathered from its ``add()``/``record()`` calls; None when one
    of them passes attributes that cannot be read."""
    keys: dict[str, None] = {}
    for use in index.uses_of(definition):
        if use.star:
            return None
        keys.update(dict.fromkeys(k for k, _ in use.keywords))
    return tuple(keys)


class HistogramBudget(Rule):
    """A histogram is one series per bucket (``le``, +Inf included) plus ``_sum`` and ``_count``, for every
    combination of its label values, in every process that exports it. prometheus_client's default buckets make 17
    series per combination, so three labels of ten values each are 17,000 series from one line of code; the
    OpenTelemetry SDK's default boundaries make 18. The estimate multiplies the buckets (counted from ``buckets=``,
    the default when none are given) by the values of each label: the number given in ``label-sizes``, else the
    distinct literals the code passes when every use passes literals, else ``label-fanout`` (10 by default) as an
    assumption. It is reported past ``histogram-budget`` (10,000 series per process by default), as an error
    when nothing was assumed and a warning otherwise."""

    ID = "PAR409"
    NAME = "histogram-series-budget"
    TITLE = "A histogram's buckets times its label values exceed the series budget"
    SEVERITY = Severity.ERROR
    MESSAGE = "histogram {metric} makes {detail}"
    FIX = (
        "use fewer buckets (the SLO thresholds and a few around them), or move a label to a counter that does not "
        "need buckets; if the sizes are right, raise histogram-budget, or declare label-sizes, in "
        "[tool.parapet.cardinality]"
    )
    VALID = (
        # every use passes literals: 3 queues x 2 outcomes x 17 = 102 series
        "from prometheus_client import Histogram\n"
        'JOB = Histogram("job_seconds", "Job time.", ["queue", "outcome"])\n'
        "def done(seconds):\n"
        '    JOB.labels("mail", "success").observe(seconds)\n'
        '    JOB.labels("sms", "failure").observe(seconds)\n'
        '    JOB.labels(queue="push", outcome="success").observe(seconds)\n',
        # two open labels: 10 x 10 x 17 = 1,700
        "from prometheus_client import Histogram\n"
        'LATENCY = Histogram("http_seconds", "HTTP.", ["http_route", "http_request_method"])\n',
        # three open labels with the configured sizes and five buckets: 3 x 4 x 10 x (6 + 2) = 960
        {
            "pyproject.toml": "[tool.parapet.cardinality]\nlabel-sizes = { region = 3, tier = 4 }\n",
            "app/m.py": "from prometheus_client import Histogram\n"
            "BUCKETS = (0.1, 0.25, 0.5, 1, 2.5)\n"
            'T = Histogram("t_seconds", "T.", ["region", "tier", "method"], buckets=BUCKETS)\n',
        },
    )
    INVALID = (
        # three open labels with the default buckets: 10 x 10 x 10 x 17 = 17,000
        "from prometheus_client import Histogram\n"
        'LATENCY = Histogram("request_seconds", "Latency.", ["route", "status", "tenant"])\n',
        # 40 exponential buckets and two labels of configured sizes: 43 x 30 x 12 = 15,480
        {
            "pyproject.toml": "[tool.parapet.cardinality]\nlabel-sizes = { customer_tier = 30, kind = 12 }\n",
            "app/m.py": "from prometheus_client import Histogram\n"
            "from app.buckets import exponential_buckets\n"
            'SIZE = Histogram("payload_bytes", "Size.", ["customer_tier", "kind"],\n'
            "                 buckets=exponential_buckets(64, 1.5, 40))\n",
        },
        # a tighter budget in the configuration
        {
            "pyproject.toml": "[tool.parapet.cardinality]\nhistogram-budget = 500\n",
            "app/m.py": "import prometheus_client as pc\n"
            'DB = pc.Histogram("db_seconds", "DB.", labelnames=("operation", "table"))\n',
        },
        # OpenTelemetry: the attribute keys of record() are the labels, 16 buckets by default
        "from opentelemetry import metrics\n"
        'LATENCY = metrics.get_meter("shop").create_histogram("checkout.duration", unit="s")\n'
        "def done(seconds, step, region, provider):\n"
        '    LATENCY.record(seconds, {"step": step, "region": region, "provider": provider})\n',
    )

    def check(self, facts: FileFacts, index: Index, config: Config) -> Iterator[Finding]:
        for d in facts.definitions:
            if d.kind != "histogram" or d.family:
                continue
            labels = otel_attributes(d, index) if d.otel else d.labels
            if labels is None:
                continue
            sizes = label_sizes(d, labels, index, config)
            buckets = d.buckets if d.buckets is not None else DEFAULT_BUCKETS
            combinations = 1
            for size in sizes:
                combinations *= size.values
            series = combinations * (buckets + 2)
            if series <= config.histogram_budget:
                continue
            assumed = [s.label for s in sizes if s.source == "assumed"]
            guessed = bool(assumed) or d.buckets is None
            per = f"{buckets + 2} ({buckets} buckets{'' if d.buckets is not None else ', assumed'}, _sum, _count)"
            factors = [per] + [
                f"{s.values} {s.label}" + ("" if s.source in ("configured", "literals") else f" ({s.source})")
                for s in sizes
            ]
            detail = (
                f"about {series:,} series per process: {' x '.join(factors)}, "
                f"past the budget of {config.histogram_budget:,}"
            )
            hint = self.FIX
            if assumed:
                hint += f"; {', '.join(assumed)} assumed {config.label_fanout} values each (label-fanout)"
            yield self.finding(
                d.site,
                metric=metric_name(d),
                label=",".join(labels) or "no labels",
                detail=detail,
                hint=hint,
                severity=Severity.WARNING if guessed else Severity.ERROR,
                confidence=Confidence.MEDIUM if guessed else Confidence.HIGH,
            )
