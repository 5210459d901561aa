"""What the cardinality analyzer knows, as tables: which calls make metrics, which calls and request parts are
unbounded label values, which are bounded, and which web frameworks a file may use.

The walk (``recognize.py``) asks these tables which calls are metrics; the classification (``classify.py``) asks
them what a label value is. Nothing here looks at a syntax tree.
"""

from __future__ import annotations

from collections.abc import Iterable

from parapet_cli.analyzers.cardinality.model import BOUNDED, Kind, Value

# prometheus_client class -> (kind, index of the label names when passed by position, their keyword)
METRIC_CLASSES: dict[str, tuple[str, int, str]] = {
    "Counter": ("counter", 2, "labelnames"),
    "Gauge": ("gauge", 2, "labelnames"),
    "Histogram": ("histogram", 2, "labelnames"),
    "Summary": ("summary", 2, "labelnames"),
    "Info": ("info", 2, "labelnames"),
    "Enum": ("enum", 2, "labelnames"),
    "CounterMetricFamily": ("counter", 3, "labels"),
    "GaugeMetricFamily": ("gauge", 3, "labels"),
    "HistogramMetricFamily": ("histogram", 4, "labels"),
    "GaugeHistogramMetricFamily": ("histogram", 4, "labels"),
    "SummaryMetricFamily": ("summary", 4, "labels"),
    "InfoMetricFamily": ("info", 3, "labels"),
    "StateSetMetricFamily": ("enum", 3, "labels"),
    "UnknownMetricFamily": ("unknown", 3, "labels"),
}
USE_METHODS = frozenset({"labels", "remove", "add_metric"})
# OpenTelemetry: meter.create_*(name, ...) -> kind; instrument.add/record/set(value, attributes) set the attributes.
OTEL_CREATE = {
    "create_counter": "counter",
    "create_up_down_counter": "gauge",
    "create_histogram": "histogram",
    "create_gauge": "gauge",
}
OTEL_METHODS = frozenset({"add", "record", "set"})
# The OpenTelemetry SDK's default explicit bucket boundaries (0, 5, 10, … 10000): 15 bounds, 16 buckets.
OTEL_DEFAULT_BUCKETS = 16
PROMETHEUS_DEFAULT_BUCKETS = 15  # Histogram.DEFAULT_BUCKETS: 14 bounds and +Inf
# Calls that build bucket bounds: (name, the argument that counts them as (position, keyword)).
BUCKET_CALLS: dict[str, tuple[int, str]] = {
    "exponential_buckets": (2, "count"),
    "linear_buckets": (2, "count"),
    "exponential_buckets_range": (2, "count"),
}
# Words that say a file uses prometheus_client's multiprocess mode.
MULTIPROCESS_WORDS = (
    "MultiProcessCollector",
    "mark_process_dead",
    "PROMETHEUS_MULTIPROC_DIR",
    "prometheus_multiproc_dir",
)

# Calls whose result differs on every call, process or machine.
UNBOUNDED_CALLS: dict[str, str] = {
    "uuid.uuid1": "a new uuid on every call",
    "uuid.uuid4": "a new uuid on every call",
    "time.time": "the current time",
    "time.time_ns": "the current time",
    "time.monotonic": "a clock reading",
    "time.perf_counter": "a clock reading",
    "time.ctime": "the current time",
    "time.strftime": "the current time",
    "datetime.datetime.now": "the current time",
    "datetime.datetime.utcnow": "the current time",
    "datetime.datetime.today": "the current date",
    "datetime.date.today": "the current date",
    "os.getpid": "the process id",
    "os.getppid": "the parent process id",
    "threading.get_ident": "the thread id",
    "threading.get_native_id": "the thread id",
    "socket.gethostname": "the hostname, new for every pod",
    "socket.getfqdn": "the hostname, new for every pod",
    "platform.node": "the hostname, new for every pod",
    "os.uname": "the hostname, new for every pod",
    "id": "an object address",
    "hash": "a hash of a runtime value",
}
UNBOUNDED_MODULES = {"random": "a random number", "secrets": "a random token"}
HOST_ENV = frozenset({"HOSTNAME", "HOST", "POD_NAME", "POD_IP", "NODE_NAME", "MY_POD_NAME", "CONTAINER_ID"})
EXCEPTION_CALLS = frozenset({"traceback.format_exc", "traceback.format_exception", "traceback.format_exception_only"})
BOUNDED_CALLS = frozenset({"type", "bool", "isinstance", "issubclass", "len", "callable"})
STRING_METHODS = frozenset({"lower", "upper", "strip", "lstrip", "rstrip", "title", "casefold", "capitalize"})

REQUEST_ROOTS = frozenset({"request", "req", "http_request", "scope", "environ", "flask_request"})
# Parts of a request that are raw client input, one value per URL, id, client or header.
REQUEST_PARTS = frozenset(
    {
        "path", "url", "full_path", "path_info", "raw_path", "query_string", "query_params", "query", "args",
        "GET", "POST", "headers", "META", "body", "json", "form", "files", "values", "data", "content", "text",
        "client", "remote", "remote_addr", "access_route", "host", "get_host", "cookies", "user_agent", "base_url",
        "rel_url", "path_params", "get_full_path", "build_absolute_uri", "get_json", "uri",
        "[path]", "[raw_path]", "[query_string]", "[headers]", "[client]", "[PATH_INFO]", "[QUERY_STRING]",
        "[REMOTE_ADDR]", "[HTTP_HOST]", "[REQUEST_URI]", "[RAW_URI]", "[HTTP_USER_AGENT]", "[HTTP_X_FORWARDED_FOR]",
    }
)  # fmt: skip
# Parts of a request, or names, that carry the route template or another small set.
ROUTE_WORDS = frozenset(
    {
        "method", "url_rule", "rule", "resolver_match", "route", "endpoint", "url_name", "view_name", "match_info",
        "scheme", "template", "route_name", "[route]", "[method]", "[type]", "[REQUEST_METHOD]", "[endpoint]",
    }
)  # fmt: skip
BOUNDED_ATTRS = frozenset(
    {"status_code", "status", "status_int", "code", "errno", "method", "__name__", "__qualname__", "kind", "level"}
)
# Plain names (parameters, locals) that hold a status code or another small set, like the attributes above.
BOUNDED_NAMES = BOUNDED_ATTRS | {
    "response_code", "response_status", "http_status", "http_code", "returncode", "exit_code",
}  # fmt: skip
EXCEPTION_ATTRS = frozenset({"args", "message", "msg", "strerror", "detail", "reason", "description", "text"})

FRAMEWORKS = ("fastapi", "starlette", "litestar", "flask", "quart", "django", "aiohttp", "sanic", "falcon", "tornado")

RANK = {Kind.BOUNDED: 0, Kind.UNKNOWN: 1, Kind.UNBOUNDED: 2, Kind.REQUEST: 3, Kind.EXCEPTION: 4}


def worst(values: Iterable[Value]) -> Value:
    out = BOUNDED
    for v in values:
        if RANK[v.kind] > RANK[out.kind]:
            out = v
    return out
