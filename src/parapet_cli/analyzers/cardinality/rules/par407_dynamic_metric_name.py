"""PAR407: a metric's name is built from runtime values."""

from __future__ import annotations

from collections.abc import Iterator

from parapet_cli.analyzers.cardinality.model import FileFacts, Index
from parapet_cli.analyzers.cardinality.rule import Config, Rule
from parapet_cli.doctor.findings import Confidence, Finding, Severity


class DynamicMetricName(Rule):
    """A metric name built from a hostname, a peer address, a tenant or an id is a new metric for every value:
    worse than a label, because no query can aggregate across names without a regular expression over
    ``__name__``, dashboards and alerts cannot name it, and prometheus_client refuses a duplicate only within
    one process. A name that folds to constants (``namespace``, module constants, f-strings of constants) or
    comes from a factory's parameter is not reported."""

    ID = "PAR407"
    NAME = "dynamic-metric-name"
    TITLE = "A metric's name is built from runtime values"
    SEVERITY = Severity.ERROR
    MESSAGE = "a metric is named {detail}"
    FIX = "give the metric a constant name and move the varying part into a bounded label"
    VALID = (
        'from prometheus_client import Counter\nPREFIX = "shop"\nC = Counter(f"{PREFIX}_orders_total", "Orders.")\n',
        # a factory: the name comes from the caller, who passes constants
        "from prometheus_client import Gauge\ndef gauge(name, doc):\n    return Gauge(name, doc)\n",
    )
    INVALID = (
        'import socket\nfrom prometheus_client import Gauge\nUP = Gauge(f"up_{socket.gethostname()}", "Up.")\n',
        "from prometheus_client import Counter\n"
        "def track(peer_host):\n"
        '    return Counter("bytes_to_" + peer_host.replace(".", "_"), "Bytes.")\n',
        "from opentelemetry import metrics\n"
        "def meter_for(tenant_id):\n"
        '    return metrics.get_meter("x").create_counter(f"requests.{tenant_id}")\n',
    )

    def check(self, facts: FileFacts, index: Index, config: Config) -> Iterator[Finding]:
        for d in facts.definitions:
            if d.dynamic_name is None:
                continue
            value = d.dynamic_name
            yield self.finding(
                d.site,
                metric=value.code,
                label="__name__",
                detail=f"{value.code}: {value.reason}",
                severity=Severity.ERROR if value.confidence is Confidence.HIGH else Severity.WARNING,
                confidence=value.confidence,
            )
