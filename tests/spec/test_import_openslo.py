"""OpenSLO ``openslo/v1`` files: documents resolved and mapped onto the internal model, the rules pass
the real promtool, and what Parapet cannot honour is refused at the right line with a hint."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from parapet.errors import SpecError
from parapet.spec import load_spec
from parapet.spec.model import SLIKind
from parapet_cli.generators import slo_rules
from tests.conftest import FIXTURES, run_promtool

MULTI = FIXTURES / "golden" / "openslo-multi" / "spec.yaml"

SLI_DOC = """\
apiVersion: openslo/v1
kind: SLI
metadata:
  name: api-errors
spec:
  ratioMetric:
    counter: true
    bad:
      metricSource:
        type: Prometheus
        spec:
          query: sum(rate(http_requests_total{job="api",code=~"5.."}[{{window}}]))
    total:
      metricSource:
        type: Prometheus
        spec:
          query: sum(rate(http_requests_total{job="api"}[{{window}}]))
"""
SLO_DOC = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: api-availability
spec:
  service: api
  indicatorRef: api-errors
  timeWindow:
    - duration: 30d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: 0.995
  alertPolicies:
    - alertPolicyRef: api-burn
"""
POLICY_DOC = """\
apiVersion: openslo/v1
kind: AlertPolicy
metadata:
  name: api-burn
  annotations:
    runbook_url: https://runbooks.example.com/api
spec:
  alertWhenBreaching: true
  conditions:
    - conditionRef: api-fast-burn
"""
CONDITION_DOC = """\
apiVersion: openslo/v1
kind: AlertCondition
metadata:
  name: api-fast-burn
spec:
  severity: page
  condition:
    kind: burnrate
    threshold: 14.4
    lookbackWindow: 1h
    alertAfter: 2m
"""


def join(*docs: str) -> str:
    return "---\n".join(docs)


BASE = join(SLI_DOC, SLO_DOC, POLICY_DOC, CONDITION_DOC)


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based number of the nth line of ``text`` containing ``needle``."""
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == nth:
                return number
    raise AssertionError(f"{needle!r} not in text {nth} times")


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "openslo.yaml"
    path.write_text(text)
    return load_spec(path)


def refuse(tmp_path: Path, text: str) -> SpecError:
    path = tmp_path / "openslo.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    exc = info.value
    assert exc.location.path == path
    assert exc.hint, "every refusal carries a hint"
    return exc


def test_multi_document_file_maps_onto_the_model() -> None:
    spec = load_spec(MULTI)
    assert spec.format == "openslo/v1"
    assert spec.service == "checkout"
    assert dict(spec.labels) == {"team": "payments"}  # from the Service document
    assert [s.name for s in spec.slos] == [
        "checkout-availability",
        "checkout-latency-most-requests",
        "checkout-latency-nearly-all-requests",
    ]
    availability, most, nearly_all = spec.slos

    assert availability.objective == Decimal("99.9")
    assert availability.period_days == 28
    assert availability.description == "Checkout requests served without a server error"
    assert dict(availability.labels) == {"env": "prod,eu", "tier": "1"}
    assert availability.sli.kind is SLIKind.EVENTS
    assert availability.sli.errors == 'sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{window}}]))'
    assert availability.sli.total == 'sum(rate(http_requests_total{job="checkout"}[{{window}}]))'
    alerting = availability.alerting
    assert alerting is not None
    assert alerting.name == "CheckoutCheckoutAvailabilityErrorBudgetBurn"
    assert alerting.runbook_url == "https://runbooks.example.com/checkout/availability"
    assert alerting.absent_for == "10m"  # alertWhenNoData
    assert dict(alerting.labels) == {"routing": "payments-oncall"}
    page, ticket = alerting.page, alerting.ticket
    assert (page.enabled, page.label_value, page.for_) == (True, "critical", "5m")
    assert dict(page.labels) == {"routing": "payments-oncall"}
    assert not ticket.enabled

    assert (most.objective, nearly_all.objective) == (Decimal("99"), Decimal("95"))
    for slo in (most, nearly_all):
        assert slo.period_days == 28
        assert slo.sli.errors is None
        assert slo.sli.good == ('sum(rate(http_request_duration_seconds_bucket{job="checkout",le="0.5"}[{{window}}]))')
        assert slo.alerting is not None
        assert slo.alerting.runbook_url == "https://runbooks.example.com/checkout/latency"  # the SLO's annotation
        assert slo.alerting.absent_for is None
        assert not slo.alerting.page.enabled
        assert (slo.alerting.ticket.enabled, slo.alerting.ticket.label_value) == (True, "ticket")
        assert slo.alerting.ticket.for_ == "30m"


def test_multi_document_rules_pass_promtool(tmp_path: Path, promtool: str) -> None:
    spec = load_spec(MULTI)
    files = slo_rules.generate(spec, "spec.yaml")
    assert [f.path for f in files] == ["checkout.slo.rules.yml", "checkout.slo.test.yml"]
    for planned in files:
        (tmp_path / planned.path).write_bytes(planned.content)
    rules = (tmp_path / "checkout.slo.rules.yml").read_text()
    assert "spec_format: openslo/v1" in rules
    assert "alert: CheckoutCheckoutAvailabilityErrorBudgetBurnNoData" in rules

    checked = run_promtool(promtool, "check", "rules", "checkout.slo.rules.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run_promtool(promtool, "test", "rules", "checkout.slo.test.yml", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_base_file_loads(tmp_path: Path) -> None:
    spec = load(tmp_path, BASE)
    (slo,) = spec.slos
    assert (slo.name, slo.objective, slo.period_days) == ("api-availability", Decimal("99.5"), 30)
    assert slo.alerting is not None
    assert (slo.alerting.page.enabled, slo.alerting.page.label_value, slo.alerting.page.for_) == (True, "page", "2m")
    assert slo.alerting.absent_for is None


def test_slo_without_alert_policy_records_only(tmp_path: Path) -> None:
    text = join(SLI_DOC, SLO_DOC.replace("  alertPolicies:\n    - alertPolicyRef: api-burn\n", ""))
    (slo,) = load(tmp_path, text).slos
    assert slo.alerting is None


def test_window_in_weeks_and_target_percent(tmp_path: Path) -> None:
    text = BASE.replace("duration: 30d", "duration: 4w").replace("- target: 0.995", "- targetPercent: 99.95")
    (slo,) = load(tmp_path, text).slos
    assert (slo.period_days, slo.objective) == (28, Decimal("99.95"))


def test_cli_generates_from_an_openslo_file(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "openslo.yaml"
    path.write_text(BASE)
    result = cli("gen", "slo", "--spec", str(path), "--out", str(tmp_path / "rules"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "rules" / "api.slo.rules.yml").is_file()


def test_cli_renders_a_refusal(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "openslo.yaml"
    path.write_text(BASE.replace("budgetingMethod: Occurrences", "budgetingMethod: Timeslices"))
    result = cli("gen", "slo", "--spec", str(path), "--out", str(tmp_path / "rules"))
    assert result.exit_code == 3
    assert "error: " in result.stderr and "hint: " in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "rules").exists()


# --------------------------------------------------------------------------------------------- refusals


def test_threshold_metric_is_refused(tmp_path: Path) -> None:
    sli = """\
apiVersion: openslo/v1
kind: SLI
metadata:
  name: api-errors
spec:
  thresholdMetric:
    metricSource:
      type: Prometheus
      spec:
        query: histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[{{window}}])))
"""
    text = join(sli, SLO_DOC, POLICY_DOC, CONDITION_DOC)
    exc = refuse(tmp_path, text)
    assert exc.message == "thresholdMetric SLIs cannot be imported"
    assert exc.location.line == line_of(text, "thresholdMetric:")
    assert exc.hint is not None and "ratioMetric" in exc.hint


@pytest.mark.parametrize("method", ["Timeslices", "RatioTimeslices"])
def test_timeslices_budgeting_is_refused(tmp_path: Path, method: str) -> None:
    text = BASE.replace("budgetingMethod: Occurrences", f"budgetingMethod: {method}")
    exc = refuse(tmp_path, text)
    assert exc.message == f"budgetingMethod {method} cannot be imported"
    assert exc.location.line == line_of(text, "budgetingMethod:")
    assert exc.hint is not None and "Occurrences" in exc.hint


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("  budgetingMethod: Occurrences\n", "  budgetingMethod: Occurrences\n  budgetMethod: x\n")
    exc = refuse(tmp_path, text)
    assert exc.message == "unknown key 'budgetMethod'"
    assert exc.location.line == line_of(text, "budgetMethod: x")
    assert exc.hint is not None and "did you mean 'budgetingMethod'" in exc.hint


def test_unknown_key_in_a_referenced_document_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("    alertAfter: 2m\n", "    alertAfter: 2m\n    alertafter: 5m\n")
    exc = refuse(tmp_path, text)
    assert exc.message == "unknown key 'alertafter'"
    assert exc.location.line == line_of(text, "alertafter: 5m")


def test_missing_placeholder_is_refused(tmp_path: Path) -> None:
    text = BASE.replace('code=~"5.."}[{{window}}]', 'code=~"5.."}[5m]')
    exc = refuse(tmp_path, text)
    assert exc.message == "query has no {{window}} placeholder"
    assert exc.location.line == line_of(text, "[5m]")
    assert exc.location.field == "spec.ratioMetric.bad.metricSource.spec.query"
    assert exc.hint is not None and "{{window}}" in exc.hint and "convention" in exc.hint


def test_v1alpha_is_refused(tmp_path: Path) -> None:
    text = """\
apiVersion: openslo/v1alpha
kind: SLO
metadata:
  name: api-availability
spec:
  service: api
  budgetingMethod: Occurrences
  timeWindows:
    - unit: Day
      count: 30
      isRolling: true
  objectives:
    - ratioMetrics:
        good:
          source: prometheus
          queryType: promql
          query: sum(rate(http_requests_total{code!~"5.."}[{{.window}}]))
        total:
          source: prometheus
          queryType: promql
          query: sum(rate(http_requests_total[{{.window}}]))
      target: 0.99
"""
    exc = refuse(tmp_path, text)
    assert exc.message == "openslo/v1alpha is not supported"
    assert exc.location.line == 1
    assert exc.hint is not None and "openslo/v1" in exc.hint and "timeWindow" in exc.hint


def test_mixed_services_are_refused(tmp_path: Path) -> None:
    other = SLO_DOC.replace("name: api-availability", "name: web-availability").replace("service: api", "service: web")
    text = join(SLI_DOC, SLO_DOC, other, POLICY_DOC, CONDITION_DOC)
    exc = refuse(tmp_path, text)
    assert "belongs to service 'web'" in exc.message and "'api'" in exc.message
    assert exc.location.line == line_of(text, "service: web")
    assert exc.hint is not None and "one file per service" in exc.hint


def test_missing_indicator_ref_target_is_refused(tmp_path: Path) -> None:
    text = join(SLO_DOC, POLICY_DOC, CONDITION_DOC)
    exc = refuse(tmp_path, text)
    assert exc.message == "no kind: SLI document named 'api-errors' in this file"
    assert exc.location.line == line_of(text, "indicatorRef:")
    assert exc.hint is not None and "inline" in exc.hint


def test_missing_alert_policy_target_is_refused(tmp_path: Path) -> None:
    text = join(SLI_DOC, SLO_DOC)
    exc = refuse(tmp_path, text)
    assert exc.message == "no kind: AlertPolicy document named 'api-burn' in this file"
    assert exc.location.line == line_of(text, "alertPolicyRef:")


def test_missing_condition_target_is_refused(tmp_path: Path) -> None:
    text = join(SLI_DOC, SLO_DOC, POLICY_DOC)
    exc = refuse(tmp_path, text)
    assert exc.message == "no kind: AlertCondition document named 'api-fast-burn' in this file"
    assert exc.location.line == line_of(text, "conditionRef:")


def test_raw_ratio_is_refused(tmp_path: Path) -> None:
    sli = SLI_DOC.replace("    bad:\n", "    rawType: failure\n    raw:\n").replace(
        "    total:\n      metricSource:\n        type: Prometheus\n        spec:\n"
        '          query: sum(rate(http_requests_total{job="api"}[{{window}}]))\n',
        "",
    )
    text = join(sli, SLO_DOC, POLICY_DOC, CONDITION_DOC)
    exc = refuse(tmp_path, text)
    assert exc.message == "raw ratio SLIs cannot be imported"
    assert exc.location.line == line_of(text, "raw:")
    assert exc.hint is not None and "ratio of sums" in exc.hint


def test_gauge_ratio_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("counter: true", "counter: false")
    exc = refuse(tmp_path, text)
    assert exc.message == "ratioMetric.counter must be true"
    assert exc.location.line == line_of(text, "counter: false")


@pytest.mark.parametrize(
    ("duration", "message"),
    [
        ("36h", "time window 36h is not a whole number of days"),
        ("1d12h", "time window 1d12h is not a whole number of days"),
        ("1M", "1M is a calendar duration"),
        ("thirty", "'thirty' is not a duration"),
    ],
)
def test_bad_time_window_is_refused(tmp_path: Path, duration: str, message: str) -> None:
    text = BASE.replace("duration: 30d", f"duration: {duration}")
    exc = refuse(tmp_path, text)
    assert exc.message == message
    assert exc.location.line == line_of(text, "duration:")


def test_calendar_window_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("      isRolling: true\n", "      isRolling: false\n")
    exc = refuse(tmp_path, text)
    assert exc.message == "calendar-aligned time windows cannot be imported"
    assert exc.location.line == line_of(text, "isRolling: false")
    assert exc.hint is not None and "rolling" in exc.hint


def test_missing_runbook_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("  annotations:\n    runbook_url: https://runbooks.example.com/api\n", "")
    exc = refuse(tmp_path, text)
    assert exc.message == "SLO 'api-availability' alerts but has no runbook_url"
    assert exc.location.line == line_of(text, "alertPolicies:")
    assert exc.hint is not None and "runbook_url" in exc.hint


def test_two_conditions_on_one_tier_are_refused(tmp_path: Path) -> None:
    inline = """\
    - kind: AlertCondition
      metadata:
        name: api-slow-page
      spec:
        severity: critical
        condition:
          kind: burnrate
          threshold: 6
          lookbackWindow: 6h
          alertAfter: 15m
"""
    text = BASE.replace("    - conditionRef: api-fast-burn\n", "    - conditionRef: api-fast-burn\n" + inline)
    exc = refuse(tmp_path, text)
    assert exc.message == "two alert conditions of SLO 'api-availability' map to its page alert"
    assert exc.location.line == line_of(text, "severity: critical")


def test_non_prometheus_source_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("type: Prometheus", "type: Datadog", 1)
    exc = refuse(tmp_path, text)
    assert exc.message == "metric source type 'Datadog' is not Prometheus"
    assert exc.location.line == line_of(text, "type: Datadog")


def test_composite_objective_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("    - target: 0.995\n", "    - target: 0.995\n      compositeWeight: 1\n")
    exc = refuse(tmp_path, text)
    assert exc.message == "composite SLOs cannot be imported"
    assert exc.location.line == line_of(text, "compositeWeight:")


def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    text = join(BASE, "apiVersion: openslo/v1\nkind: Dashboard\nmetadata:\n  name: x\nspec: {}\n")
    exc = refuse(tmp_path, text)
    assert exc.message == "unknown kind 'Dashboard'"
    assert exc.location.line == line_of(text, "kind: Dashboard")


# -- an AlertCondition's burn rate and lookback window are honoured, or refused with a hint ------------------

DECLARED = (
    BASE.replace("duration: 30d", "duration: 28d")
    .replace("target: 0.995", "target: 0.999")
    .replace("threshold: 14.4", "threshold: 14")
    .replace("alertAfter: 2m", "alertAfter: 1m")
)
UNIT_TEST = """\
rule_files: [api.slo.rules.yml]
evaluation_interval: 1m
tests:
  - name: {name}
    interval: 1m
    input_series:
      - series: 'http_requests_total{{job="api"}}'
        values: 0+1000x120
      - series: 'http_requests_total{{job="api",code="500"}}'
        values: 0+{errors}x120
    promql_expr_test:
      - expr: count(ALERTS{{alertname="ApiApiAvailabilityErrorBudgetBurn", alertstate="firing"}})
        eval_time: 100m
        exp_samples: {expected}
"""


def test_declared_burn_rate_is_honoured(tmp_path: Path, promtool: str) -> None:
    """The issue's case: burn rate 14 over 1h on a 28d SLO becomes that one pair (short window 5m, 1/12 of
    it), not Parapet's own pairs (13.44 over 1h/5m and 5.6 over 6h/30m on 28 days)."""
    spec = load(tmp_path, DECLARED)
    (slo,) = spec.slos
    assert [(p.severity, p.long_name, p.short_name, p.factor) for p in slo.alert_windows] == [
        ("page", "1h", "5m", Decimal(14))
    ]
    for planned in slo_rules.generate(spec, "openslo.yaml"):
        (tmp_path / planned.path).write_bytes(planned.content)
    rules = (tmp_path / "api.slo.rules.yml").read_text()
    assert "> 0.014\n" in rules and "13.44" not in rules and "rate6h" not in rules
    assert "14x over 1h and 5m." in rules
    assert run_promtool(promtool, "check", "rules", "api.slo.rules.yml", cwd=tmp_path).returncode == 0
    generated = run_promtool(promtool, "test", "rules", "api.slo.test.yml", cwd=tmp_path)
    assert generated.returncode == 0, generated.stdout + generated.stderr

    # An error ratio of 1.5% (15x the budget) pages; 1.38% does not, though Parapet's own 13.44x pair would.
    (tmp_path / "fires.yml").write_text(UNIT_TEST.format(name="above 14x", errors=15, expected="[{value: 1}]"))
    (tmp_path / "quiet.yml").write_text(UNIT_TEST.format(name="under 14x", errors=13.8, expected="[]"))
    for name in ("fires.yml", "quiet.yml"):
        result = run_promtool(promtool, "test", "rules", name, cwd=tmp_path)
        assert result.returncode == 0, name + result.stdout + result.stderr


def test_conditions_without_threshold_keep_parapets_windows(tmp_path: Path) -> None:
    text = BASE.replace("    threshold: 14.4\n    lookbackWindow: 1h\n", "")
    (slo,) = load(tmp_path, text).slos
    assert slo.alert_windows == ()


@pytest.mark.parametrize(
    ("old", "new", "message", "at"),
    [
        ("    lookbackWindow: 1h\n", "", "the condition has threshold but no lookbackWindow", "condition:"),
        ("kind: burnrate", "kind: threshold", "alert condition kind 'threshold' cannot be imported", "kind: threshold"),
        ("    kind: burnrate\n", "    kind: burnrate\n    op: lt\n", "op 'lt' cannot be imported", "op: lt"),
        ("lookbackWindow: 1h", "lookbackWindow: 30m", "lookbackWindow '30m' is outside 1h to the SLO's 30d", "30m"),
        ("lookbackWindow: 1h", "lookbackWindow: 60d", "lookbackWindow '60d' is outside 1h to the SLO's 30d", "60d"),
        ("threshold: 14.4", "threshold: 0", "threshold must be above 0", "threshold: 0"),
        ("threshold: 14.4", "threshold: 500", "could never fire", "target: 0.995"),
    ],
)
def test_declared_burn_rate_that_cannot_be_honoured_is_refused(
    tmp_path: Path, old: str, new: str, message: str, at: str
) -> None:
    text = BASE.replace(old, new, 1)
    assert text != BASE
    exc = refuse(tmp_path, text)
    assert message in exc.message
    assert exc.location.line == line_of(text, at)
