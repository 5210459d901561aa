"""The configuration: ``[tool.parapet.cardinality]`` and the spec's ``doctor: cardinality:``, merged key by key with
the spec winning; strict about unknown keys; wrappers, and what they tell the prefilter and the cache."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from parapet.errors import ConfigError, SpecError
from parapet.spec import load_spec
from parapet.spec.model import MetricWrapper
from parapet_cli.analyzers.cardinality.config import (
    HISTOGRAM_BUDGET,
    LABEL_FANOUT,
    Config,
    config_from,
    load_config,
)
from parapet_cli.analyzers.cardinality.model import Index
from parapet_cli.analyzers.cardinality.recognize import analyze_source
from tests.doctor.helpers import doctor, found

PYPROJECT = """\
[tool.parapet.cardinality]
max-labels = 8
allow-labels = ["region_id", "shard_*"]
histogram-budget = 2000
label-fanout = 5
label-sizes = { region = 8, "*_tier" = 3 }
wrappers = [
  { call = "myapp.metrics.counter", kind = "counter" },
  { call = "*.timed", kind = "histogram", name = "metric", labels = 1, buckets = [2, "buckets"] },
]
"""
SPEC = """\
version: parapet/v1
service: shop
doctor:
  cardinality:
    max_labels: 12
    wrappers:
      - {call: myapp.telemetry.gauge, kind: gauge, labels: [1, label_names]}
slos:
  - pack: web
    alerting: {runbook_url: https://runbooks.example.com/web}
"""


def test_every_key_of_pyproject() -> None:
    config = config_from(tomllib.loads(PYPROJECT), "pyproject.toml")
    assert config.max_labels == 8
    assert config.allowed("region_id") and config.allowed("shard_key") and not config.allowed("user_id")
    assert (config.histogram_budget, config.label_fanout) == (2000, 5)
    assert config.size_of("region") == 8 and config.size_of("plan_tier") == 3 and config.size_of("route") is None
    assert config.wrappers == (
        MetricWrapper("myapp.metrics.counter", "counter"),
        MetricWrapper("*.timed", "histogram", name=(None, "metric"), labels=(1, None), buckets=(2, "buckets")),
    )


def test_defaults_are_documented_values() -> None:
    config = config_from({}, "pyproject.toml")
    assert config == Config()
    assert (config.max_labels, config.histogram_budget, config.label_fanout) == (10, HISTOGRAM_BUDGET, LABEL_FANOUT)
    assert config.prefilter is None and config.recognition_key == ""


@pytest.mark.parametrize(
    ("table", "message", "hint"),
    [
        ("max-label = 3", "unknown key 'max-label'", "did you mean 'max-labels'"),
        ("max_labels = 3", "unknown key 'max_labels'", "did you mean 'max-labels'"),
        ('histogram-budget = "big"', "histogram-budget must be a positive integer", "histogram-budget = 10"),
        ("label-sizes = [1]", "label-sizes must be a table", "region = 8"),
        ("label-sizes = { region = 0 }", "label-sizes.region must be a positive integer", "region = 8"),
        ('wrappers = { call = "x" }', "wrappers must be a list of tables", "wrappers = ["),
        ('wrappers = [{ kind = "counter" }]', "wrappers[0] needs call", "call ="),
        ('wrappers = [{ call = "x", kind = "meter" }]', "kind must be one of counter, gauge", 'kind = "counter"'),
        ('wrappers = [{ call = "x", kind = "gauge", label = 1 }]', "unknown key 'label'", "did you mean 'labels'"),
        ('wrappers = [{ call = "x", kind = "gauge", labels = [1, 2] }]', "wrappers[0] labels must be", "[2, "),
        ('wrappers = [{ call = "x", kind = "gauge", name = -1 }]', "wrappers[0] name must be", "[2, "),
    ],
)
def test_bad_pyproject_is_one_config_error(table: str, message: str, hint: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config_from(tomllib.loads(f"[tool.parapet.cardinality]\n{table}\n"), "pyproject.toml")
    assert raised.value.message.startswith("pyproject.toml: [tool.parapet.cardinality]"), raised.value.message
    assert message in raised.value.message
    assert raised.value.hint is not None and hint in raised.value.hint


def test_the_spec_wins_key_by_key(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    spec = load_spec(tmp_path / "parapet.yaml", SPEC)
    config = load_config(tmp_path, spec)
    assert config.max_labels == 12  # the spec's
    assert config.histogram_budget == 2000 and config.allowed("region_id")  # pyproject's, the spec leaves them
    assert config.wrappers == (MetricWrapper("myapp.telemetry.gauge", "gauge", labels=(1, "label_names")),)
    assert load_config(tmp_path, None).max_labels == 8
    assert load_config(tmp_path / "nowhere", spec).max_labels == 12


def test_an_unknown_spec_key_is_a_one_line_spec_error() -> None:
    with pytest.raises(SpecError) as raised:
        load_spec(Path("parapet.yaml"), SPEC.replace("max_labels: 12", "max_label: 12"))
    rendered = raised.value.render()
    assert rendered.startswith("parapet.yaml:5:5: doctor.cardinality.max_label: unknown key 'max_label'"), rendered
    assert "\n" not in rendered and "did you mean 'max_labels'" in (raised.value.hint or "")


def test_wrappers_tell_the_prefilter_and_the_cache() -> None:
    config = config_from(tomllib.loads(PYPROJECT), "pyproject.toml")
    assert config.prefilter_names == ("counter", "timed")
    assert config.prefilter is not None
    assert config.prefilter.search(b"from myapp.metrics import counter as c\n")
    assert config.prefilter.search(b"x = self.timed('a', ['b'])\n")
    assert not config.prefilter.search(b"encounter = 1\n")
    other = config_from(tomllib.loads(PYPROJECT.replace('kind = "counter"', 'kind = "gauge"')), "pyproject.toml")
    assert config.recognition_key and other.recognition_key and config.recognition_key != other.recognition_key
    glob = Config(wrappers=(MetricWrapper("app.make_*", "counter"),))
    assert glob.prefilter is not None and glob.prefilter.search(b"make_counter(") and not glob.prefilter.search(b"x")


WRAPPED = {
    "myapp/metrics.py": (
        "from prometheus_client import Counter\n"
        "def counter(name, documentation, labelnames=()):\n"
        '    return Counter("myapp_" + name, documentation, labelnames)\n'
        'LOCAL = counter("local_total", "Local.", ["queue"])\n'
    ),
    "myapp/orders.py": (
        "from myapp.metrics import counter as make\n"
        "from .metrics import counter\n"
        'ORDERS = make("orders_total", "Orders.", labelnames=["plan"])\n'
        'REFUNDS = counter("refunds_total", "Refunds.", ["reason"])\n'
        "def refund(reason):\n"
        "    REFUNDS.labels(reason).inc()\n"
    ),
    "myapp/jobs.py": (
        "class Jobs:\n"
        "    def __init__(self, registry):\n"
        '        self.seconds = registry.timed("job_seconds", ["queue"], (1, 5, 30))\n'
        "    def done(self, queue, seconds):\n"
        "        self.seconds.labels(queue).observe(seconds)\n"
    ),
}


def test_wrappers_define_metrics_however_imported() -> None:
    config = config_from(tomllib.loads(PYPROJECT.replace('name = "metric"', "name = 0")), "pyproject.toml")
    facts = [analyze_source(path, text, config.wrappers) for path, text in sorted(WRAPPED.items())]
    defs = {d.key: (d.kind, d.name, d.labels, d.buckets) for f in facts for d in f.definitions if d.key}
    assert defs == {
        "myapp.metrics.LOCAL": ("counter", "local_total", ("queue",), None),
        "myapp.orders.ORDERS": ("counter", "orders_total", ("plan",), None),
        "myapp.orders.REFUNDS": ("counter", "refunds_total", ("reason",), None),
        "myapp.jobs.Jobs.seconds": ("histogram", "job_seconds", ("queue",), 4),
    }
    index = Index.build(facts)
    assert all(index.resolve(u) is not None for f in facts for u in f.uses)
    # without the configuration they are plain calls
    plain = [analyze_source(path, text) for path, text in sorted(WRAPPED.items())]
    assert [d.key for f in plain for d in f.definitions] == [""]  # only the Counter inside the factory


def test_spec_configuration_reaches_the_doctor_run(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "m.py").write_text(
        'from prometheus_client import Gauge\nG = Gauge("shard_lag", "Lag.", ["shard_id", "region_id"])\n'
    )
    (tmp_path / "pyproject.toml").write_text('[tool.parapet.cardinality]\nallow-labels = ["region_id"]\n')
    report = doctor(tmp_path, "PAR402")
    assert [dict(r.finding.extra)["label"] for r in report.active] == ["shard_id"]
    (tmp_path / "parapet.yaml").write_text(SPEC.replace("    max_labels: 12\n", "    allow_labels: ['*_id']\n"))
    assert found(doctor(tmp_path, "PAR402"), "PAR402") == []


GROUPED_SPEC = """\
version: parapet/v1
service: shop
slos:
  - name: checkout
    objective: 99.9
    group_by: [tenant_id]
    alerting: {runbook_url: https://runbooks.example.com/checkout}
    sli:
      events:
        error_query: sum by (tenant_id) (rate(orders_total{outcome="failed"}[{{window}}]))
        total_query: sum by (tenant_id) (rate(orders_total[{{window}}]))
"""


def test_slo_findings_point_at_the_spec_and_can_be_suppressed_there(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "parapet.yaml").write_text(GROUPED_SPEC)
    report = doctor(tmp_path, "PAR410")
    assert found(report, "PAR410") == [("parapet.yaml", 6, "error")]
    result = cli("doctor", "PAR410", "--root", str(tmp_path))
    assert result.exit_code == 1, result.output
    assert "parapet.yaml:6:16" in result.stdout and "tenant_id" in result.stdout
    (tmp_path / "parapet.yaml").write_text(
        GROUPED_SPEC.replace(
            "    group_by: [tenant_id]\n",
            "    group_by: [tenant_id]  # parapet: ignore[PAR410] reason=twelve tenants, contractually\n",
        )
    )
    report = doctor(tmp_path, "PAR410")
    assert report.active == [] and [r.suppressed for r in report.suppressed] == ["inline"]


def test_a_spec_that_does_not_load_leaves_the_code_rules_running(tmp_path: Path) -> None:
    (tmp_path / "parapet.yaml").write_text("version: parapet/v1\nservice: shop\ndoctor: {cardinality: {nope: 1}}\n")
    (tmp_path / "m.py").write_text('from prometheus_client import Counter\nC = Counter("c", "C.", ["user_id"])\n')
    report = doctor(tmp_path, "PAR402", "PAR410")
    assert found(report, "PAR402") == [("m.py", 2, "error")]
    assert found(report, "PAR410") == []


def test_wrappers_reach_a_doctor_run_through_the_prefilter_and_the_cache(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "orders.py").write_text(  # no prometheus_client word in it: only the wrapper's name
        'from myapp.telemetry import counter\nORDERS = counter("orders_total", "Orders.", ["customer_email"])\n'
    )
    (tmp_path / "pyproject.toml").write_text(
        '[tool.parapet.cardinality]\nwrappers = [{ call = "myapp.telemetry.counter", kind = "counter" }]\n'
    )
    for _ in range(2):  # cold, then from the cache
        result = cli("doctor", "PAR402", "--root", str(tmp_path), "--format", "json")
        assert result.exit_code == 1, result.output
        assert '"label": "customer_email"' in result.stdout and '"path": "myapp/orders.py"' in result.stdout
    (tmp_path / "pyproject.toml").write_text("")  # the wrapper is gone: so is the metric, cache or not
    result = cli("doctor", "PAR402", "--root", str(tmp_path), "--format", "json")
    assert result.exit_code == 0, result.output
