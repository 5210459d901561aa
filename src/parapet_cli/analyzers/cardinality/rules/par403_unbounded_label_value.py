"""PAR403: a label is set to a value that differs on every call, process or machine."""

from __future__ import annotations

from collections.abc import Iterator

from parapet_cli.analyzers.cardinality.model import FileFacts, Index, Kind
from parapet_cli.analyzers.cardinality.rule import Config, Rule, values_of_kind
from parapet_cli.doctor.findings import Confidence, Finding, Severity


class UnboundedLabelValue(Rule):
    """A label value that is a uuid, the time, a process id, a random number, a hostname or an id creates a
    new series for every call, process or pod: memory in every process that exports it, and in Prometheus,
    grows without limit. f-strings and ``str()`` of runtime values are reported too, unless every runtime part
    is bounded: a class name (``type(self).__name__``), an enum member, a status code, a constant, a loop over
    a literal, or a value checked with ``in ALLOWED`` in the same function."""

    ID = "PAR403"
    NAME = "unbounded-label-value"
    TITLE = "A label value takes unboundedly many values"
    SEVERITY = Severity.ERROR
    MESSAGE = "metric {metric} gets label {label} = {detail}"
    FIX = "map the value to a small set (a category, a class name, an enum) before it becomes a label"
    VALID = (
        "from prometheus_client import Counter\n"
        'JOBS = Counter("jobs_total", "Jobs.", ["task"])\n'
        "class Task:\n"
        "    def run(self):\n"
        '        JOBS.labels(f"{type(self).__name__}").inc()\n',
        "import enum\nfrom prometheus_client import Counter\n"
        "class Outcome(enum.Enum):\n    OK = 'ok'\n    FAILED = 'failed'\n"
        'DONE = Counter("done_total", "Done.", ["outcome"])\n'
        "DONE.labels(Outcome.OK.value).inc()\nDONE.labels(outcome=Outcome.FAILED).inc()\n",
        "from prometheus_client import Counter\n"
        'ALLOWED = {"free", "pro"}\n'
        'SIGNUPS = Counter("signups_total", "Signups.", ["plan"])\n'
        "def signup(plan):\n"
        "    if plan not in ALLOWED:\n"
        '        plan = "other"\n'
        "    SIGNUPS.labels(plan).inc()\n",
        "from prometheus_client import Counter\n"
        'SENT = Counter("sent_total", "Sent.", ["status"])\n'
        "def send(response):\n"
        "    SENT.labels(str(response.status_code)).inc()\n"
        '    for status in ("ok", "error"):\n'
        "        SENT.labels(status)\n",
        {
            "app/metrics.py": 'from prometheus_client import Gauge\nWORKERS = Gauge("workers", "W.", ["queue"])\n',
            "app/worker.py": "from app import metrics as m\ndef start(queue):\n    m.WORKERS.labels(queue).inc()\n",
        },
        # a set's add() is not an instrument's, even with a dict in it
        "from opentelemetry import metrics\n"
        'JOBS = metrics.get_meter("jobs").create_counter("jobs")\n'
        'def done(seen, kind):\n    JOBS.add(1, {"kind": type(kind).__name__})\n    seen.add(1, {"user": f"{kind}"})\n',
    )
    INVALID = (
        "import uuid\nfrom prometheus_client import Counter\n"
        'C = Counter("c_total", "C.", ["run"])\nC.labels(str(uuid.uuid4())).inc()\n',
        "from os import getpid as pid\nimport prometheus_client as pc\n"
        'G = pc.Gauge("g", "G.", ["process"])\nG.labels(process=pid()).set(1)\n',
        "import socket\nfrom prometheus_client import Gauge\n"
        'UP = Gauge("up_since", "Up.", ["node"])\n'
        "def boot():\n    host = socket.gethostname()\n    UP.labels(host).set(1)\n",
        "from prometheus_client import Counter\n"
        'C = Counter("orders_total", "Orders.", ["customer"])\n'
        "def order(user):\n"
        '    C.labels(f"customer-{user}").inc()\n',
        {
            "app/metrics.py": "from prometheus_client import Counter\n"
            'BILLED = Counter("billed_total", "B.", ["account"])\n',
            "app/billing.py": "from .metrics import BILLED\n"
            "def bill(account_id):\n    BILLED.labels(account_id).inc()\n",
        },
        "import uuid\nfrom opentelemetry import metrics\n"
        'LATENCY = metrics.get_meter("jobs").create_histogram("job.duration", unit="s")\n'
        'def done(seconds):\n    LATENCY.record(seconds, attributes={"run": str(uuid.uuid4())})\n',
        # a custom collector's add_metric() sets label values too
        "import socket\nfrom prometheus_client.core import GaugeMetricFamily\n"
        "def collect():\n"
        '    g = GaugeMetricFamily("node_up", "Up.", labels=["node"])\n'
        "    g.add_metric([socket.gethostname()], 1)\n"
        "    yield g\n",
        # and remove() names the series it drops
        "from prometheus_client import Gauge\n"
        'ACTIVE = Gauge("active_sessions", "Active.", ["client"])\n'
        "def close(session_key):\n"
        "    ACTIVE.remove(session_key)\n",
    )

    def check(self, facts: FileFacts, index: Index, config: Config) -> Iterator[Finding]:
        for use, metric, label, value, confidence, cause in values_of_kind(facts, index, Kind.UNBOUNDED, config):
            yield self.finding(
                use.site,
                metric=metric,
                label=label,
                detail=f"{value.code}: {value.reason}",
                severity=Severity.ERROR if confidence is Confidence.HIGH else Severity.WARNING,
                confidence=confidence,
                cause=cause,
            )
