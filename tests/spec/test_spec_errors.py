"""Every kind of bad spec: exit 3, ``file:line:col``, the field, a hint, and nothing written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

GOOD_SLO = """\
  - name: availability
    objective: 99.9
    alerting:
      runbook_url: https://runbooks.example.com/availability
    sli:
      events:
        error_query: sum(rate(http_requests_total{code=~"5.."}[{{window}}]))
        total_query: sum(rate(http_requests_total[{{window}}]))
"""
HEAD = "version: parapet/v1\nservice: api\nslos:\n"

# (id, spec text, expected line, expected field path fragment, message fragment, hint fragment)
CASES = [
    (
        "unknown-key",
        HEAD + GOOD_SLO.replace("    objective: 99.9\n", "    objective: 99.9\n    objectve: 99\n"),
        6,
        "slos[0].objectve",
        "unknown key 'objectve'",
        "did you mean 'objective'",
    ),
    (
        "unknown-top-level-key",
        HEAD.replace("service: api\n", "service: api\nservise: x\n") + GOOD_SLO,
        3,
        "servise",
        "unknown key 'servise'",
        "did you mean 'service'",
    ),
    (
        "wrong-type",
        HEAD + GOOD_SLO.replace("objective: 99.9", "objective: [99.9]"),
        5,
        "slos[0].objective",
        "objective must be a number",
        "type",
    ),
    (
        "wrong-type-mapping",
        HEAD + GOOD_SLO.replace("    sli:\n      events:", "    labels: [a, b]\n    sli:\n      events:"),
        8,
        "slos[0].labels",
        "labels must be a mapping",
        "key: value",
    ),
    (
        "objective-too-high",
        HEAD + GOOD_SLO.replace("objective: 99.9", "objective: 100"),
        5,
        "slos[0].objective",
        "objective 100 is out of range",
        "between 0 and 100",
    ),
    (
        "objective-zero",
        HEAD + GOOD_SLO.replace("objective: 99.9", "objective: 0"),
        5,
        "slos[0].objective",
        "out of range",
        "between 0 and 100",
    ),
    (
        "missing-runbook",
        HEAD + GOOD_SLO.replace("    alerting:\n      runbook_url: https://runbooks.example.com/availability\n", ""),
        4,
        "slos[0]",
        "alerts but has no runbook_url",
        "runbook_url",
    ),
    (
        "latency-off-bucket",
        HEAD + "  - name: latency\n    objective: 99\n    alerting: {runbook_url: https://r.example.com}\n"
        "    sli:\n      latency:\n        threshold: 0.3\n",
        9,
        "slos[0].sli.latency.threshold",
        "0.3s is not a bucket bound",
        "0.25, 0.5",
    ),
    (
        "window-missing",
        HEAD + GOOD_SLO.replace("[{{window}}]))\n        total", "[5m]))\n        total"),
        10,
        "slos[0].sli.events.error_query",
        "no {{window}} placeholder",
        "[{{window}}]",
    ),
    (
        "duplicate-slo-name",
        HEAD + GOOD_SLO + GOOD_SLO,
        12,
        "slos[1].name",
        "duplicate SLO name 'availability'",
        "own name",
    ),
    (
        "promql-does-not-parse",
        HEAD
        + GOOD_SLO.replace("sum(rate(http_requests_total[{{window}}]))", "sum(rate(http_requests_total[{{window}}])"),
        11,
        "slos[0].sli.events.total_query",
        "PromQL does not parse",
        "brackets",
    ),
    (
        "yaml-syntax",
        HEAD + GOOD_SLO.replace("    objective: 99.9\n", "    objective: 99.9\n   bad: indent\n"),
        6,
        None,
        "YAML syntax error",
        "indentation",
    ),
    (
        "duplicate-yaml-key",
        HEAD + GOOD_SLO.replace("    objective: 99.9\n", "    objective: 99.9\n    objective: 99\n"),
        6,
        "slos[0].objective",
        "duplicate key 'objective'",
        "last",
    ),
    (
        "unknown-version",
        HEAD.replace("parapet/v1", "parapet/v9") + GOOD_SLO,
        1,
        "version",
        "unsupported format 'parapet/v9'",
        "parapet/v1",
    ),
    (
        "no-version",
        HEAD.replace("version: parapet/v1\n", "") + GOOD_SLO,
        1,
        None,
        "no version or apiVersion",
        "version: parapet/v1",
    ),
    (
        "unknown-source",
        HEAD + "  - name: a\n    objective: 99\n    alerting: {runbook_url: https://r.example.com}\n"
        "    sli:\n      source: prometheus-magic\n      http: {}\n",
        8,
        "slos[0].sli.source",
        "unknown source 'prometheus-magic'",
        "fastapi-instrumentator",
    ),
    (
        "group-by-mismatch",
        HEAD + GOOD_SLO.replace("    sli:\n", "    group_by: [route]\n    sli:\n"),
        11,
        "slos[0].sli.events.error_query",
        "aggregates to no labels but the SLO groups by route",
        "sum by (route)",
    ),
    (
        "not-aggregated",
        HEAD
        + GOOD_SLO.replace(
            'sum(rate(http_requests_total{code=~"5.."}[{{window}}]))',
            'rate(http_requests_total{code=~"5.."}[{{window}}])',
        ),
        10,
        "slos[0].sli.events.error_query",
        "not aggregated",
        "sum(",
    ),
    (
        "two-sli-kinds",
        HEAD + GOOD_SLO + "      http: {}\n",
        8,
        "slos[0].sli",
        "exactly one kind, found events, http",
        "one of",
    ),
    (
        "bad-label-name",
        HEAD.replace("service: api\n", "service: api\nlabels:\n  bad-name: x\n") + GOOD_SLO,
        4,
        "labels.bad-name",
        "not a valid Prometheus label name",
        "letters",
    ),
    (
        "reserved-label",
        HEAD.replace("service: api\n", "service: api\nlabels:\n  slo: x\n") + GOOD_SLO,
        4,
        "labels.slo",
        "set by Parapet itself",
        "another",
    ),
    (
        "bad-period",
        HEAD + GOOD_SLO.replace("    objective: 99.9\n", "    objective: 99.9\n    period: 1month\n"),
        6,
        "slos[0].period",
        "'1month' is not a valid period",
        "30d",
    ),
    (
        "bad-for",
        HEAD + GOOD_SLO.replace("      runbook_url:", "      page: {for: soon}\n      runbook_url:"),
        7,
        "slos[0].alerting.page.for",
        "'soon' is not a valid for",
        "2m",
    ),
    (
        "no-slos",
        "version: parapet/v1\nservice: api\nslos: []\n",
        3,
        "slos",
        "no SLOs defined",
        "at least one",
    ),
    (
        "bad-status-class",
        HEAD + "  - name: a\n    objective: 99\n    alerting: {runbook_url: https://r.example.com}\n"
        "    sli:\n      source: fastapi-instrumentator\n      http: {errors: [503]}\n",
        9,
        "slos[0].sli.http.errors[0]",
        "groups status codes into classes",
        "5xx",
    ),
    (
        "unknown-histogram-buckets",
        HEAD + "  - name: a\n    objective: 99\n    alerting: {runbook_url: https://r.example.com}\n"
        "    sli:\n      latency: {histogram: my_seconds, threshold: 1}\n",
        8,
        "slos[0].sli.latency.histogram",
        "bucket bounds of my_seconds are unknown",
        "buckets:",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "message", "hint"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_spec(tmp_path: Path, cli, text: str, line: int, field: str | None, message: str, hint: str) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "parapet.yaml"
    spec.write_text(text)
    result = cli("gen", "slo", "--spec", str(spec))
    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    error, hint_line = lines
    match = re.match(rf"error: {re.escape(str(spec))}:(\d+):(\d+):", error)
    assert match, error
    assert int(match.group(1)) == line, error
    if field is not None:
        assert f" {field}:" in error, error
    assert message in error, error
    assert hint_line.startswith("hint: ") and hint in hint_line, hint_line
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parapet.yaml"], "nothing may be written"


def test_missing_spec_file(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("gen", "slo", "--spec", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 3
    assert "spec file not found" in result.stderr and "hint:" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_numeric_label_values_are_their_text(tmp_path: Path) -> None:
    from parapet.spec import load_spec

    spec = tmp_path / "parapet.yaml"
    spec.write_text(
        HEAD.replace("service: api\n", "service: api\nlabels: {tier: 2, paging: true, weight: 0.5}\n") + GOOD_SLO
    )
    assert dict(load_spec(spec).labels) == {"tier": "2", "paging": "true", "weight": "0.5"}


MORE_CASES = [
    (
        "zero-period",
        HEAD + GOOD_SLO.replace("    objective: 99.9\n", "    objective: 99.9\n    period: 0d\n"),
        6,
        "slos[0].period",
        "'0d' is not a valid period",
        "30d",
    ),
    (
        "objective-as-ratio",
        HEAD + GOOD_SLO.replace("objective: 99.9", "objective: 0.999"),
        5,
        "slos[0].objective",
        "the page alert could never fire",
        "write 99.9",
    ),
    (
        "negative-min-events",
        HEAD + GOOD_SLO.replace("      runbook_url:", "      min_events: -1\n      runbook_url:"),
        7,
        "slos[0].alerting.min_events",
        "min_events -1 is out of range",
        "greater than or equal to 0",
    ),
    (
        "typo-of-required-key-suggests",
        HEAD + GOOD_SLO.replace("    objective: 99.9\n", "    objectve: 99.9\n"),
        5,
        "slos[0].objectve",
        "unknown key 'objectve'",
        "did you mean 'objective'",
    ),
    (
        "source-on-events",
        HEAD + GOOD_SLO.replace("    sli:\n", "    sli:\n      source: otel\n"),
        9,
        "slos[0].sli.source",
        "source does not apply to this events SLI",
        "remove it",
    ),
    (
        "unknown-default-source",
        HEAD.replace("slos:\n", "defaults: {source: prom}\nslos:\n") + GOOD_SLO,
        3,
        "defaults.source",
        "unknown source 'prom'",
        "parapet",
    ),
    (
        "reserved-info-label",
        HEAD.replace("service: api\n", "service: api\nlabels:\n  objective: high\n") + GOOD_SLO,
        4,
        "labels.objective",
        "set by Parapet itself",
        "another",
    ),
    (
        "pack-route-error-path",
        HEAD + "  - pack: web\n    source: flask-exporter\n    routes: [/a]\n"
        "    alerting: {runbook_url: https://r.example.com}\n",
        6,
        "slos[0].routes",
        "has no route label",
        "drop routes",
    ),
    (
        "doctor-cardinality-unknown-key",
        HEAD + GOOD_SLO + "doctor:\n  cardinality:\n    max_label: 3\n",
        14,
        "doctor.cardinality.max_label",
        "unknown key 'max_label'",
        "did you mean 'max_labels'",
    ),
    (
        "doctor-cardinality-wrapper-key",
        HEAD
        + GOOD_SLO
        + "doctor:\n  cardinality:\n    wrappers:\n      - {call: app.m.counter, kind: counter, lables: 1}\n",
        15,
        "doctor.cardinality.wrappers[0].lables",
        "unknown key 'lables'",
        "did you mean 'labels'",
    ),
    (
        "doctor-cardinality-wrapper-arguments",
        HEAD
        + GOOD_SLO
        + "doctor:\n  cardinality:\n    wrappers:\n      - {call: app.m.counter, kind: counter, labels: [1, 2]}\n",
        15,
        "doctor.cardinality.wrappers[0].labels",
        "at most one position and one keyword",
        "[2, labelnames]",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "message", "hint"),
    [pytest.param(*case[1:], id=case[0]) for case in MORE_CASES],
)
def test_more_bad_specs(tmp_path: Path, cli, text: str, line: int, field: str, message: str, hint: str) -> None:  # type: ignore[no-untyped-def]
    test_bad_spec(tmp_path, cli, text, line, field, message, hint)


def test_url_templates_keep_other_braces(tmp_path: Path) -> None:
    from parapet.spec import load_spec

    spec = tmp_path / "parapet.yaml"
    spec.write_text(
        HEAD.replace("slos:\n", "alerting:\n  dashboard_url: 'https://g.example.com/d/{uid}?var={0}&x={a.b}'\nslos:\n")
        + GOOD_SLO.replace("runbooks.example.com/availability", "wiki.example.com/{service}/{slo}/{x:y}")
    )
    alerting = load_spec(spec).slos[0].alerting
    assert alerting is not None
    assert alerting.runbook_url == "https://wiki.example.com/api/availability/{x:y}"
    assert alerting.dashboard_url == "https://g.example.com/d/parapet-api-availability?var={0}&x={a.b}"


def test_slo_tier_override_keeps_global_disable_and_for(tmp_path: Path) -> None:
    from parapet.spec import load_spec

    spec = tmp_path / "parapet.yaml"
    spec.write_text(
        HEAD.replace("slos:\n", "alerting:\n  page: {labels: {team: x}}\n  ticket: {disable: true}\nslos:\n")
        + GOOD_SLO.replace("      runbook_url:", "      ticket: {for: 1h}\n      runbook_url:")
    )
    alerting = load_spec(spec).slos[0].alerting
    assert alerting is not None
    assert alerting.page.for_ == "2m", "a top-level tier without for: keeps the default"
    assert not alerting.ticket.enabled, "an SLO override that does not mention disable keeps the global one"


PACK_CASES = [
    (
        "pack-typo",
        HEAD + "  - pack: web\n    availabilty: 99\n    alerting: {runbook_url: https://r.example.com}\n",
        5,
        "slos[0].availabilty",
        "unknown key 'availabilty'",
        "did you mean 'availability'",
    ),
    (
        "pack-objective-as-ratio",
        HEAD + "  - pack: web\n    availability: 0.999\n    alerting: {runbook_url: https://r.example.com}\n",
        5,
        "slos[0].availability",
        "could never fire",
        "write 99.9",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "message", "hint"),
    [pytest.param(*case[1:], id=case[0]) for case in PACK_CASES],
)
def test_bad_packs(tmp_path: Path, cli, text: str, line: int, field: str, message: str, hint: str) -> None:  # type: ignore[no-untyped-def]
    test_bad_spec(tmp_path, cli, text, line, field, message, hint)


REVIEW_CASES = [
    (
        "group-by-clashes-with-alert-label",
        HEAD.replace("service: api\n", "service: api\nlabels: {team: x}\n")
        + GOOD_SLO.replace("    sli:\n      events:", "    group_by: [team]\n    sli:\n      events:")
        .replace(
            'sum(rate(http_requests_total{code=~"5.."}[{{window}}]))',
            'sum by (team) (rate(http_requests_total{code=~"5.."}[{{window}}]))',
        )
        .replace("total_query: sum(rate(", "total_query: sum by (team) (rate("),
        6,
        "slos[0].objective",
        "group_by label 'team'",
        "rename",
    ),
    (
        "unclosed-template-in-annotation",
        HEAD + GOOD_SLO.replace("      runbook_url:", "      annotations: {x: '{{ .Bad'}\n      runbook_url:"),
        7,
        "slos[0].alerting.annotations.x",
        "not closed",
        "{{",
    ),
    (
        "bad-annotation-name",
        HEAD + GOOD_SLO.replace("      runbook_url:", "      annotations: {bad-key: v}\n      runbook_url:"),
        7,
        "slos[0].alerting.annotations.bad-key",
        "not a valid Prometheus annotation name",
        "letters",
    ),
    (
        "empty-label-value",
        HEAD.replace("service: api\n", "service: api\nlabels: {x: ''}\n") + GOOD_SLO,
        3,
        "labels.x",
        "empty value",
        "drops",
    ),
    (
        "huge-period",
        HEAD + GOOD_SLO.replace("    objective: 99.9\n", "    objective: 99.9\n    period: 9999d\n"),
        6,
        "slos[0].period",
        "longer than 3650 days",
        "90d",
    ),
    (
        "unicode-digits-in-duration",
        HEAD + GOOD_SLO.replace("      runbook_url:", '      page: {for: "\u0665m"}\n      runbook_url:'),
        7,
        "slos[0].alerting.page.for",
        "is not a valid for",
        "2m",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "message", "hint"),
    [pytest.param(*case[1:], id=case[0]) for case in REVIEW_CASES],
)
def test_review_bad_specs(tmp_path: Path, cli, text: str, line: int, field: str, message: str, hint: str) -> None:  # type: ignore[no-untyped-def]
    test_bad_spec(tmp_path, cli, text, line, field, message, hint)


def test_merge_keys_let_explicit_keys_win_and_x_keys_hold_anchors(tmp_path: Path) -> None:
    from parapet.spec import load_spec

    spec = tmp_path / "parapet.yaml"
    spec.write_text(
        "version: parapet/v1\nservice: api\nalerting: {runbook_url: 'https://r.example.com/{slo}'}\n"
        "x-base: &base\n  objective: 99.9\n  sli: {http: {}}\n"
        "slos:\n  - <<: *base\n    name: a\n  - <<: *base\n    name: b\n    objective: 99\n"
    )
    assert [(s.name, float(s.objective)) for s in load_spec(spec).slos] == [("a", 99.9), ("b", 99.0)]


def test_alias_bomb_and_deep_nesting_are_clean_errors_or_fast(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    lines = ["version: parapet/v1", "service: api", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 20)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\nslos: []\n")
    result = cli("gen", "slo", "--spec", str(bomb))
    assert result.exit_code == 3 and "Traceback" not in result.output
    deep = tmp_path / "deep.yaml"
    deep.write_text("version: parapet/v1\nservice: api\nslos: " + "[" * 3000 + "]" * 3000 + "\n")
    result = cli("gen", "slo", "--spec", str(deep))
    assert result.exit_code == 3 and "Traceback" not in result.output


def test_description_with_braces_is_printed_literally(tmp_path: Path) -> None:
    from parapet.spec import load_spec
    from parapet_cli.generators.slo_rules import rule_groups

    spec = tmp_path / "parapet.yaml"
    spec.write_text(
        HEAD + GOOD_SLO.replace("    objective: 99.9\n", "    objective: 99.9\n    description: 'use {{x}}'\n")
    )
    groups = rule_groups(load_spec(spec))
    alert = next(r for r in groups[0]["rules"] if "alert" in r)
    assert alert["annotations"]["description"].startswith('use {{ "{{" }}x}}. SLO availability')
