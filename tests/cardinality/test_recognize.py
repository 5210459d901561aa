"""Recognition: prometheus_client however imported, label names by position or keyword, folded names, and the
repository index that resolves a use in one file to the definition in another."""

from __future__ import annotations

import pytest

from parapet_cli.analyzers.cardinality.model import Index, Kind
from parapet_cli.analyzers.cardinality.prune import prune
from parapet_cli.analyzers.cardinality.recognize import absolute, analyze_source, module_name
from parapet_cli.doctor.findings import Confidence


@pytest.mark.parametrize(
    "imports",
    [
        "from prometheus_client import Counter",
        "from prometheus_client import Counter as Counter",
        "from prometheus_client.metrics import Counter",
        "import prometheus_client\nCounter = prometheus_client.Counter",
    ],
)
def test_counter_however_imported(imports: str) -> None:
    facts = analyze_source("app/m.py", f'{imports}\nC = Counter("c_total", "C.", ["a"])\n')
    assert [(d.key, d.kind, d.labels) for d in facts.definitions] == [("app.m.C", "counter", ("a",))]


def test_aliases_and_module_aliases() -> None:
    source = (
        "import prometheus_client as pc\nfrom prometheus_client import Histogram as H\n"
        'A = pc.Gauge("a", "A.", labelnames=("x", "y"))\nB = H("b_seconds", "B.")\n'
    )
    facts = analyze_source("app/m.py", source)
    assert [(d.kind, d.name, d.labels) for d in facts.definitions] == [
        ("gauge", "a", ("x", "y")),
        ("histogram", "b_seconds", ()),
    ]


def test_other_counters_and_enums_are_not_metrics() -> None:
    source = 'import enum\nfrom collections import Counter\nc = Counter("abc")\nE = enum.Enum("E", ["a"])\n'
    assert analyze_source("app/m.py", source).definitions == ()


def test_namespace_subsystem_and_constants_fold_into_the_name() -> None:
    source = (
        "from prometheus_client import Counter\n"
        'NS = "shop"\nSUB = "orders"\nLABELS = ("queue",) + ("outcome",)\nBASE = "created"\n'
        'C = Counter(f"{BASE}_total", "C.", LABELS, namespace=NS, subsystem=SUB)\n'
        'D = Counter("d_total", "D.", ["a"], "ns")\n'
    )
    defs = analyze_source("app/m.py", source).definitions
    assert [(d.name, d.labels) for d in defs] == [
        ("shop_orders_created_total", ("queue", "outcome")),
        ("ns_d_total", ("a",)),
    ]


def test_dynamic_names_and_labels_stay_unknown() -> None:
    source = "from prometheus_client import Counter\ndef make(name, labels):\n    return Counter(name, 'x', labels)\n"
    (d,) = analyze_source("app/m.py", source).definitions
    assert d.name is None and d.labels is None and d.key == ""


def test_class_attributes_and_families() -> None:
    source = (
        "from prometheus_client import Counter, Gauge\nfrom prometheus_client.core import GaugeMetricFamily\n"
        "class Metrics:\n"
        '    hits = Counter("hits_total", "H.", ["route"])\n'
        "    def __init__(self):\n"
        '        self.depth = Gauge("depth", "D.", ["queue"], multiprocess_mode="all")\n'
        "class Collector:\n    def collect(self):\n"
        '        g = GaugeMetricFamily("size", "S.", labels=["disk"])\n        g.add_metric(["sda"], 1)\n'
    )
    facts = analyze_source("src/app/m.py", source)
    assert [(d.key, d.family, d.multiprocess_mode) for d in facts.definitions] == [
        ("app.m.Metrics.hits", False, None),
        ("app.m.Metrics.depth", False, "all"),
        ("app.m.<collect>.g", True, None),
    ]
    (use,) = facts.uses
    assert use.method == "add_metric" and use.targets[0] == "app.m.<collect>.g"
    assert [v.kind for v in use.positional] == [Kind.BOUNDED]


def test_module_names_and_relative_imports() -> None:
    assert module_name("src/app/metrics.py") == ("app.metrics", False)
    assert module_name("app/__init__.py") == ("app", True)
    assert absolute(".metrics.X", "app.views", False) == "app.metrics.X"
    assert absolute("..metrics.X", "app.web.views", False) == "app.metrics.X"
    assert absolute(".X", "app", True) == "app.X"
    assert absolute("os.path", "app", False) == "os.path"


def test_uses_resolve_across_files() -> None:
    metrics = "from prometheus_client import Counter\nREQ = Counter('req_total', 'R.', ['route'])\n"
    views = (
        "from app import metrics\nfrom app.metrics import REQ as R\nfrom .metrics import REQ\n"
        "metrics.REQ.labels('a')\nR.labels('b')\nREQ.labels('c')\n"
    )
    files = [analyze_source("app/metrics.py", metrics), analyze_source("app/views.py", views)]
    index = Index.build(files)
    resolved = [index.resolve(u) for u in files[1].uses]
    assert [(r[0].key, r[1]) if r else None for r in resolved] == [("app.metrics.REQ", Confidence.HIGH)] * 3


def test_self_attribute_falls_back_to_a_unique_name() -> None:
    metrics = "from prometheus_client import Counter\nclass M:\n    hits = Counter('h_total', 'H.', ['x'])\n"
    user = "def f(m):\n    m.hits.labels('x')\n"
    files = [analyze_source("app/metrics.py", metrics), analyze_source("app/user.py", user)]
    found = Index.build(files).resolve(files[1].uses[0])
    assert found is not None and found[0].key == "app.metrics.M.hits" and found[1] is Confidence.MEDIUM


@pytest.mark.parametrize(
    ("expr", "kind"),
    [
        ("'literal'", Kind.BOUNDED),
        ("CONSTANT", Kind.BOUNDED),
        ("Status.OK", Kind.BOUNDED),
        ("Status.OK.value", Kind.BOUNDED),
        ("type(self).__name__", Kind.BOUNDED),
        ("f'{self.__class__.__name__}'", Kind.BOUNDED),
        ("str(resp.status_code)", Kind.BOUNDED),
        ("str(response_code)", Kind.BOUNDED),  # a status code held in a parameter (Synapse's request metrics)
        ("f'{self.__class__.__module__}.{type(self).__name__}'", Kind.BOUNDED),  # JupyterHub's handler label
        ("'ok' if ok else 'failed'", Kind.BOUNDED),
        ("guarded", Kind.BOUNDED),
        ("closure", Kind.BOUNDED),
        ("param", Kind.UNKNOWN),
        ("self.name", Kind.UNKNOWN),
        ("f'{param}'", Kind.UNBOUNDED),
        ("str(param)", Kind.UNBOUNDED),
        ("'%s-x' % param", Kind.UNBOUNDED),
        ("'{}'.format(param)", Kind.UNBOUNDED),
        ("user.id", Kind.UNBOUNDED),
        ("uid()", Kind.UNBOUNDED),
        ("time.time()", Kind.UNBOUNDED),
        ("datetime.now().isoformat()", Kind.UNKNOWN),
        ("str(datetime.now())", Kind.UNBOUNDED),
        ("random.randint(1, 9)", Kind.UNBOUNDED),
        ("os.environ.get('HOSTNAME')", Kind.UNBOUNDED),
        ("request.path", Kind.REQUEST),
        ("request.client.host", Kind.REQUEST),
        ("self.request.GET.get('q')", Kind.REQUEST),
        ("request.method", Kind.BOUNDED),
        ("request.url_rule.rule", Kind.BOUNDED),
        ("err", Kind.EXCEPTION),
        ("repr(err)", Kind.EXCEPTION),
        ("err.args[0]", Kind.EXCEPTION),
        ("err.errno", Kind.BOUNDED),
    ],
)
def test_value_classification(expr: str, kind: Kind) -> None:
    source = (
        "import os, random, time\nfrom datetime import datetime\nfrom uuid import uuid4 as uid\n"
        "from prometheus_client import Counter\n"
        "CONSTANT = 'x'\nALLOWED = {'a'}\nC = Counter('c_total', 'C.', ['v'])\n"
        "def f(self, param, user, resp, ok, request, guarded):\n"
        "    closure = 'fixed'\n"
        "    if guarded not in ALLOWED:\n        return\n"
        "    def inner():\n"
        "        try:\n            pass\n        except OSError as err:\n"
        f"            C.labels({expr})\n"
    )
    (use,) = analyze_source("app/m.py", source).uses
    (value,) = use.positional
    assert value.kind is kind, value


def test_a_file_that_does_not_parse_is_a_fact_not_a_crash() -> None:
    facts = analyze_source("app/broken.py", b"def f(:\n    pass\n")
    assert facts.error is not None and "libcst cannot parse it" in facts.error
    assert facts.definitions == () and facts.uses == ()


@pytest.mark.parametrize(
    ("buckets", "count"),
    [
        ("", 15),  # prometheus_client's DEFAULT_BUCKETS, +Inf included
        (", buckets=(0.1, 0.5, 1)", 4),  # +Inf is added
        (', buckets=[0.1, 1, float("inf")]', 3),  # unless it is there
        (", buckets=[0.1, 1, INF]", 3),
        (", buckets=BOUNDS", 5),
        (", buckets=(*BOUNDS, 10, 30)", 7),
        (", buckets=BOUNDS + [60]", 6),
        (", buckets=Histogram.DEFAULT_BUCKETS", 15),
        (", buckets=[0.001 * 2**i for i in range(16)]", 17),
        (", buckets=tuple(x / 10 for x in range(1, 10, 2))", 6),
        (", buckets=exponential_buckets(0.01, 2, 12)", 13),
        (", buckets=linear_buckets(start=1, width=1, count=9)", 10),
        (", buckets=LOCAL", 3),
        (", buckets=settings.BUCKETS", None),  # does not fold: unknown
        (", buckets=make(10)", None),
    ],
)
def test_histogram_buckets_fold(buckets: str, count: int | None) -> None:
    source = (
        "from prometheus_client import Histogram\nfrom prometheus_client.utils import INF\n"
        "BOUNDS = [0.1, 0.25, 0.5, 1]\n"
        "def build(settings, make):\n"
        "    LOCAL = (1, 2)\n"
        f'    return Histogram("h_seconds", "H."{buckets})\n'
    )
    (d,) = analyze_source("app/m.py", source).definitions
    assert d.buckets == count


def test_opentelemetry_histogram_buckets_and_attribute_dicts() -> None:
    source = (
        "from opentelemetry import metrics\n"
        'meter = metrics.get_meter("shop")\n'
        'A = meter.create_histogram("a")\n'
        'B = meter.create_histogram("b", explicit_bucket_boundaries_advisory=[0.1, 1, 10])\n'
        "def done(seconds, user_id):\n"
        '    attributes = {"user": user_id, "step": "pay"}\n'
        "    A.record(seconds, attributes)\n"
        "    B.record(seconds, attributes=attributes)\n"
    )
    facts = analyze_source("app/m.py", source)
    assert [d.buckets for d in facts.definitions] == [16, 4]
    for use in facts.uses:
        assert not use.star and [k for k, _ in use.keywords] == ["user", "step"]
        assert use.keywords[0][1].kind is Kind.UNBOUNDED


def test_labels_from_a_local_dict() -> None:
    source = (
        "from prometheus_client import Counter\n"
        'C = Counter("c_total", "C.", ["queue", "user"])\n'
        "def f(queue, user_id, extra):\n"
        '    labels = {"queue": queue, "user": user_id}\n'
        "    C.labels(**labels).inc()\n"
        "    C.labels(**extra).inc()\n"
    )
    first, second = analyze_source("app/m.py", source).uses
    assert not first.star and [k for k, _ in first.keywords] == ["queue", "user"]
    assert second.star and second.keywords == ()


@pytest.mark.parametrize(
    ("source", "multiprocess"),
    [
        ("from prometheus_client import multiprocess\n", True),
        ("from prometheus_client.multiprocess import MultiProcessCollector\n", True),
        ("import prometheus_client.multiprocess\n", True),
        ('import os\nimport prometheus_client\nos.environ["PROMETHEUS_MULTIPROC_DIR"] = "/tmp/m"\n', True),
        ("from prometheus_client import Counter, Gauge\n", False),
    ],
)
def test_multiprocess_mode_is_noticed(source: str, multiprocess: bool) -> None:
    assert analyze_source("app/m.py", source).multiprocess is multiprocess
    assert Index.build([analyze_source("app/m.py", source)]).multiprocess is multiprocess


def test_a_multiprocess_mode_passed_through_is_given_not_missing() -> None:
    # SGLang's gauge_histogram.py: Gauge(..., multiprocess_mode=multiprocess_mode) inside a factory
    source = (
        "from prometheus_client import Gauge, multiprocess\n"
        "def make(name, mode):\n    return Gauge(name, 'G.', multiprocess_mode=mode)\n"
        "G = Gauge('g', 'G.')\n"
    )
    modes = [d.multiprocess_mode for d in analyze_source("app/m.py", source).definitions]
    assert modes == ["?", None]


def test_a_value_assigned_after_its_use_is_followed() -> None:
    # the closure's use comes before the assignment it reads: its parents are found after the walk reached it
    source = (
        "from prometheus_client import Counter\nC = Counter('c_total', 'C.', ['path'])\n"
        "def handler(request):\n    def done():\n        C.labels(path).inc()\n"
        "    path = request.path\n    return done\n"
    )
    (use,) = analyze_source("app/m.py", source).uses
    assert use.positional[0].kind is Kind.REQUEST


def test_collector_label_lists_fold_through_attributes_and_constants() -> None:
    source = (
        "from prometheus_client.core import GaugeMetricFamily, CounterMetricFamily, HistogramMetricFamily\n"
        'STACK = ["stack"]\n'
        "class Users:\n"
        "    _stack_labels = STACK\n"
        '    kinds = ("kind",)\n'
        "    def __init__(self, hub):\n"
        "        self.hub = hub\n"
        '        self._labels = ["username"] + self._stack_labels\n'
        "    def other(self):\n"
        "        return 1\n"
        "    def collect(self):\n"
        '        a = GaugeMetricFamily("a", "A.", labels=self._labels)\n'
        '        b = CounterMetricFamily("b", "B.", labels=[*self.kinds, "slug"])\n'
        '        c = HistogramMetricFamily("c", "C.", labels=Users.kinds + tuple(STACK))\n'
        '        names = ["x"]\n'
        '        d = GaugeMetricFamily("d", "D.", labels=names)\n'
        "        a.add_metric([self.hub.name, 's'], 1)\n"
        "        yield a\n"
    )
    facts = analyze_source("app/c.py", source)
    assert [(d.name, d.labels) for d in facts.definitions] == [
        ("a", ("username", "stack")),
        ("b", ("kind", "slug")),
        ("c", ("kind", "stack")),
        ("d", ("x",)),
    ]
    (use,) = facts.uses
    assert use.method == "add_metric" and use.targets[0] == "app.c.<collect>.a"
    # assigned twice (or augmented): not a constant
    twice = source.replace("        self.hub = hub\n", "        self._labels += ['more']\n")
    assert analyze_source("app/c.py", twice).definitions[0].labels is None


def test_prune_keeps_the_method_that_sets_a_label_list_of_a_kept_class() -> None:
    source = (
        "from prometheus_client.core import GaugeMetricFamily\n"
        "class Users:\n"
        "    def __init__(self):\n"
        '        self._labels = ["username"]\n'
        "    def unrelated(self):\n"
        "        return self.x\n"
        "    def collect(self):\n"
        '        yield GaugeMetricFamily("a", "A.", labels=self._labels)\n'
    )
    pruned = prune(source)
    assert 'self._labels = ["username"]' in pruned and "return self.x" not in pruned
