"""Sloth ``prometheus/v1`` files: mapped onto the internal model, the rules pass the real promtool, and
what Parapet cannot honour is refused at the right line with a hint."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from parapet.errors import SpecError
from parapet.spec import load_spec
from parapet.spec.model import SLIKind
from parapet_cli.generators import slo_rules
from tests.conftest import FIXTURES, run_promtool

GETTING_STARTED = FIXTURES / "golden" / "sloth-getting-started" / "spec.yaml"

SLOTH = """\
version: "prometheus/v1"
service: "myservice"
labels:
  owner: "myteam"
slos:
  - name: "requests-availability"
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{job="myservice",code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total{job="myservice"}[{{.window}}]))
    alerting:
      name: MyServiceHighErrorRate
      annotations:
        runbook_url: https://runbooks.example.com/availability
      page_alert:
        labels:
          severity: critical
      ticket_alert:
        labels:
          severity: warning
"""


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line of ``text`` containing ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


def refuse(tmp_path: Path, text: str) -> SpecError:
    path = tmp_path / "sloth.yml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    exc = info.value
    assert exc.location.path == path
    assert exc.hint, "every refusal carries a hint"
    return exc


def test_getting_started_maps_onto_the_model() -> None:
    spec = load_spec(GETTING_STARTED)
    assert spec.format == "prometheus/v1"
    assert spec.service == "myservice"
    assert dict(spec.labels) == {"owner": "myteam", "repo": "myorg/myservice", "tier": "2"}
    (slo,) = spec.slos
    assert slo.name == "requests-availability"
    assert slo.objective == Decimal("99.9")
    assert slo.period_days == 30
    assert slo.description == "Common SLO based on availability for HTTP request responses."
    assert slo.labels == ()
    assert slo.sli.kind is SLIKind.EVENTS
    assert slo.sli.errors == (
        'sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{window}}]))'
    )
    assert slo.sli.total == 'sum(rate(http_request_duration_seconds_count{job="myservice"}[{{window}}]))'
    assert slo.sli.good is None

    alerting = slo.alerting
    assert alerting is not None
    assert alerting.name == "MyServiceHighErrorRate"
    assert alerting.runbook_url == "https://runbooks.example.com/myservice/requests-availability"
    assert alerting.severity_label == "severity"
    assert dict(alerting.labels) == {"category": "availability"}
    assert dict(alerting.annotations)["summary"] == "High error rate on 'myservice' requests responses"
    assert alerting.absent_for is None
    assert alerting.min_events is None  # the automatic low-traffic guard

    page, ticket = alerting.page, alerting.ticket
    assert (page.severity, page.label_value, page.enabled, page.for_) == ("page", "pageteam", True, "5m")
    assert dict(page.labels) == {"category": "availability", "routing_key": "myteam"}
    assert (ticket.severity, ticket.label_value, ticket.enabled, ticket.for_) == ("ticket", "slack", True, "10m")
    assert dict(ticket.labels) == {"category": "availability", "slack_channel": "#alerts-myteam"}


def test_getting_started_rules_pass_promtool(tmp_path: Path, promtool: str) -> None:
    spec = load_spec(GETTING_STARTED)
    files = slo_rules.generate(spec, "spec.yaml")
    assert [f.path for f in files] == ["myservice.slo.rules.yml", "myservice.slo.test.yml"]
    for planned in files:
        (tmp_path / planned.path).write_bytes(planned.content)
    rules = (tmp_path / "myservice.slo.rules.yml").read_text()
    assert "sloth" not in rules
    assert "severity: pageteam" in rules and "severity: slack" in rules
    assert "spec_format: prometheus/v1" in rules

    checked = run_promtool(promtool, "check", "rules", "myservice.slo.rules.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run_promtool(promtool, "test", "rules", "myservice.slo.test.yml", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_cli_generates_from_a_sloth_file(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "sloth.yml"
    path.write_text(SLOTH)
    result = cli("gen", "slo", "--spec", str(path), "--out", str(tmp_path / "rules"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "rules" / "myservice.slo.rules.yml").is_file()


def test_defaults_without_for_or_severity(tmp_path: Path) -> None:
    path = tmp_path / "sloth.yml"
    path.write_text(
        SLOTH.replace("      page_alert:\n        labels:\n          severity: critical\n", "").replace(
            "      ticket_alert:\n        labels:\n          severity: warning\n", ""
        )
    )
    slo = load_spec(path).slos[0]
    assert slo.alerting is not None
    assert (slo.alerting.page.label_value, slo.alerting.page.for_) == ("page", "2m")
    assert (slo.alerting.ticket.label_value, slo.alerting.ticket.for_) == ("ticket", "15m")


def test_disabled_ticket_and_runbook_annotation(tmp_path: Path) -> None:
    path = tmp_path / "sloth.yml"
    path.write_text(
        SLOTH.replace("runbook_url:", "runbook:").replace(
            "      ticket_alert:\n", "      ticket_alert:\n        disable: true\n"
        )
    )
    alerting = load_spec(path).slos[0].alerting
    assert alerting is not None
    assert alerting.runbook_url == "https://runbooks.example.com/availability"
    assert alerting.page.enabled and not alerting.ticket.enabled
    assert (alerting.page.label_value, alerting.ticket.label_value) == ("critical", "warning")


def test_both_alerts_disabled_gives_recording_rules_only(tmp_path: Path) -> None:
    text = SLOTH.replace("      page_alert:\n", "      page_alert:\n        disable: true\n").replace(
        "      ticket_alert:\n", "      ticket_alert:\n        disable: true\n"
    )
    text = text.replace("        runbook_url: https://runbooks.example.com/availability\n", "        summary: x\n")
    path = tmp_path / "sloth.yml"
    path.write_text(text)
    assert load_spec(path).slos[0].alerting is None


# --------------------------------------------------------------------------------------------- refusals


def test_raw_sli_is_refused(tmp_path: Path) -> None:
    text = SLOTH.replace(
        '      events:\n        error_query: sum(rate(http_requests_total{job="myservice",code=~"5.."}[{{.window}}]))\n'
        '        total_query: sum(rate(http_requests_total{job="myservice"}[{{.window}}]))\n',
        '      raw:\n        error_ratio_query: slo:error_ratio{job="myservice"}[{{.window}}]\n',
    )
    exc = refuse(tmp_path, text)
    assert "raw error-ratio SLIs cannot be imported" in exc.message
    assert exc.location.line == line_of(text, "raw:")
    assert exc.location.field == "slos[0].sli.raw"
    assert exc.hint is not None and "ratio of sums" in exc.hint and "events" in exc.hint


def test_plugin_sli_is_refused(tmp_path: Path) -> None:
    text = SLOTH.replace(
        '      events:\n        error_query: sum(rate(http_requests_total{job="myservice",code=~"5.."}[{{.window}}]))\n'
        '        total_query: sum(rate(http_requests_total{job="myservice"}[{{.window}}]))\n',
        "      plugin:\n        id: sloth-common/kubernetes/apiserver/availability\n        options:\n"
        '          filter: verb!="WATCH"\n',
    )
    exc = refuse(tmp_path, text)
    assert "SLI plugin 'sloth-common/kubernetes/apiserver/availability' cannot be imported" in exc.message
    assert exc.location.line == line_of(text, "plugin:")
    assert exc.hint is not None and "error_query" in exc.hint


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    text = SLOTH.replace("    objective: 99.9\n", "    objective: 99.9\n    objectiv: 99\n")
    exc = refuse(tmp_path, text)
    assert exc.message == "unknown key 'objectiv'"
    assert exc.location.line == line_of(text, "objectiv: 99")
    assert exc.hint is not None and "did you mean 'objective'" in exc.hint


def test_unknown_alert_key_is_refused(tmp_path: Path) -> None:
    text = SLOTH.replace("      page_alert:\n", "      page_alert:\n        disabled: true\n")
    exc = refuse(tmp_path, text)
    assert exc.message == "unknown key 'disabled'"
    assert exc.location.line == line_of(text, "disabled: true")
    assert exc.hint is not None and "disable" in exc.hint


def test_missing_runbook_is_refused(tmp_path: Path) -> None:
    text = SLOTH.replace("runbook_url: https://runbooks.example.com/availability", "summary: burning")
    exc = refuse(tmp_path, text)
    assert exc.message == "SLO 'requests-availability' alerts but has no runbook_url"
    assert exc.location.line == line_of(text, "alerting:")
    assert exc.hint is not None and "runbook_url" in exc.hint


def test_missing_placeholder_is_refused(tmp_path: Path) -> None:
    text = SLOTH.replace('code=~"5.."}[{{.window}}]', 'code=~"5.."}[5m]')
    exc = refuse(tmp_path, text)
    assert "no {{window}} placeholder" in exc.message
    assert exc.location.line == line_of(text, "error_query:")
    assert exc.location.field == "slos[0].sli.events.error_query"
    assert exc.hint


def test_unsupported_slo_plugin_is_refused(tmp_path: Path) -> None:
    text = SLOTH.replace(
        "slos:\n",
        "slo_plugins:\n  chain:\n    - id: sloth.dev/contrib/denominator_corrected_rules/v1\nslos:\n",
    )
    exc = refuse(tmp_path, text)
    assert "SLO plugin 'sloth.dev/contrib/denominator_corrected_rules/v1' cannot be imported" in exc.message
    assert exc.location.line == line_of(text, "denominator_corrected_rules")
    assert exc.hint is not None and "low" in exc.hint


def test_objective_of_100_is_refused(tmp_path: Path) -> None:
    text = SLOTH.replace("objective: 99.9", "objective: 100")
    exc = refuse(tmp_path, text)
    assert "out of range" in exc.message
    assert exc.location.line == line_of(text, "objective: 100")


def test_reserved_label_is_refused(tmp_path: Path) -> None:
    text = SLOTH.replace('  owner: "myteam"\n', '  owner: "myteam"\n  slo: "x"\n')
    exc = refuse(tmp_path, text)
    assert exc.message == "label 'slo' is set by Parapet itself"
    assert exc.location.line == line_of(text, 'slo: "x"')


def test_invalid_alert_name_is_refused(tmp_path: Path) -> None:
    text = SLOTH.replace("name: MyServiceHighErrorRate", "name: My-Service-Errors")
    exc = refuse(tmp_path, text)
    assert exc.message == "'My-Service-Errors' is not a valid alert name"
    assert exc.location.line == line_of(text, "My-Service-Errors")
    assert exc.hint is not None and "MyServiceHighErrorRate" in exc.hint
