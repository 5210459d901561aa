"""PAR411: a gauge gets a ``pid`` label in prometheus_client's multiprocess mode."""

from __future__ import annotations

from collections.abc import Iterator

from parapet_cli.analyzers.cardinality.model import FileFacts, Index
from parapet_cli.analyzers.cardinality.rule import Config, Rule, metric_name
from parapet_cli.doctor.findings import Confidence, Finding, Severity

PID_MODES = frozenset({"all", "liveall"})


class MultiprocessGaugePid(Rule):
    """In multiprocess mode (gunicorn or uWSGI workers sharing ``PROMETHEUS_MULTIPROC_DIR``) prometheus_client
    exports a gauge in mode ``all``, its default, with a ``pid`` label: one series per worker process, and the
    files of dead workers stay until the directory is wiped, so every restart (``max_requests``, a deploy, an
    autoscaler) adds series that never go away. ``liveall`` drops dead workers but still makes new series with
    every new pid. Most gauges mean one number for the service: a sum over workers (``livesum``), a high-water
    mark (``max``) or the latest value (``mostrecent``). The rule reports an explicit ``all`` or ``liveall``, and a
    gauge without ``multiprocess_mode`` when some file of the repository uses multiprocess mode
    (``MultiProcessCollector``, ``mark_process_dead``, ``PROMETHEUS_MULTIPROC_DIR``)."""

    ID = "PAR411"
    NAME = "multiprocess-gauge-pid"
    TITLE = "A gauge gets a pid label in prometheus_client's multiprocess mode"
    SEVERITY = Severity.ERROR
    MESSAGE = "gauge {metric} {detail}"
    FIX = (
        "give the gauge the aggregation it means: multiprocess_mode='livesum' (in-flight work, pool sizes), "
        "'max' or 'livemax' (a high-water mark), 'mostrecent' (a value one process sets, such as a timestamp)"
    )
    VALID = (
        {
            "app/metrics.py": "from prometheus_client import Gauge\n"
            'IN_FLIGHT = Gauge("in_flight_requests", "In flight.", multiprocess_mode="livesum")\n'
            'LAST_RUN = Gauge("last_run_timestamp_seconds", "Last run.", multiprocess_mode="mostrecent")\n',
            "app/web.py": "from prometheus_client import CollectorRegistry, multiprocess\n"
            "def registry():\n"
            "    registry = CollectorRegistry()\n"
            "    multiprocess.MultiProcessCollector(registry)\n"
            "    return registry\n",
        },
        # a single-process service: the mode does not apply
        'from prometheus_client import Gauge\nQUEUE = Gauge("queue_depth", "Depth.", ["queue"])\n',
    )
    INVALID = (
        'from prometheus_client import Gauge\nRSS = Gauge("rss_bytes", "RSS.", multiprocess_mode="all")\n',
        # the default mode, in a repository that uses multiprocess mode in another file
        {
            "app/metrics.py": "from prometheus_client import Gauge\n"
            'WORKERS = Gauge("busy_workers", "Busy.", ["queue"])\n',
            "gunicorn.conf.py": "from prometheus_client import multiprocess\n"
            "def child_exit(server, worker):\n"
            "    multiprocess.mark_process_dead(worker.pid)\n",
        },
        "import prometheus_client as pc\n"
        'POOL = pc.Gauge("db_pool_in_use", "In use.", multiprocess_mode="liveall")\n'
        "def collector(registry):\n"
        "    pc.multiprocess.MultiProcessCollector(registry)\n",
    )

    def check(self, facts: FileFacts, index: Index, config: Config) -> Iterator[Finding]:
        for d in facts.definitions:
            if d.kind != "gauge" or d.family or d.otel:
                continue
            mode = d.multiprocess_mode
            if mode == "all":
                detail = (
                    "has multiprocess_mode='all': prometheus_client adds a pid label, one series per worker, "
                    "and dead workers' series stay until the multiprocess directory is wiped"
                )
                severity, confidence = Severity.ERROR, Confidence.HIGH
            elif mode == "liveall":
                detail = (
                    "has multiprocess_mode='liveall': prometheus_client adds a pid label, and every restarted "
                    "worker starts new series"
                )
                severity, confidence = Severity.WARNING, Confidence.HIGH
            elif mode is None and index.multiprocess:
                detail = (
                    "has no multiprocess_mode, so in this multiprocess service it defaults to 'all': a pid label, "
                    "one series per worker, and dead workers' series stay until the directory is wiped"
                )
                severity, confidence = Severity.WARNING, Confidence.MEDIUM
            else:
                continue
            yield self.finding(
                d.site,
                metric=metric_name(d),
                label="pid",
                detail=detail,
                severity=severity,
                confidence=confidence,
            )
