"""Probes in the spec (errors at the field), the ``probe`` SLI kind, and the overview dashboard's probe panels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parapet.errors import SpecError
from parapet.spec import load_spec
from parapet_cli.generators import dashboards
from tests.conftest import FIXTURES, ROOT
from tests.install.test_dashboards import allowed_series, metric_names, queries

SPEC = FIXTURES / "golden" / "probes" / "spec.yaml"


def test_probes_and_their_sli_load() -> None:
    spec = load_spec(SPEC)
    assert [(p.name, p.every.total_seconds(), p.timeout.total_seconds()) for p in spec.probes] == [
        ("home", 30, 5),
        ("checkout", 300, 60),
    ]
    assert spec.probes[0].http is not None and spec.probes[1].call == "storefront.probes:checkout"
    sli = spec.slos[0].sli
    assert sli.kind == "probe"
    assert sli.errors == 'sum(rate(parapet_probe_duration_seconds_count{outcome!="success", probe="home"}[{{window}}]))'


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("name: home-reachable\n", "name: home-reachable\n"), None),
        (("probe: {name: home}", "probe: {name: homepage}"), "spec.yaml:19:21: slos[0].sli.probe.name: no probe named"),
        (("timeout: 5s", "timeout: 50s"), "probes[0].timeout: timeout 50s is longer than every: 30s"),
        (("every: 30s", "every: 0s"), "probes[0].every"),
        (("call: storefront.probes:checkout", "call: not a callable"), "probes[1].call"),
        (("    call: storefront.probes:checkout\n", ""), "a probe needs exactly one of http and call"),
        (("  - name: checkout", "  - name: home"), "duplicate probe name 'home'"),
    ],
)
def test_a_bad_probe_is_refused_at_its_field(tmp_path: Path, edit: tuple[str, str], message: str | None) -> None:
    path = tmp_path / "spec.yaml"
    text = SPEC.read_text()
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1], 1))
    if message is None:
        load_spec(path)
        return
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert message in caught.value.render(), caught.value.render()


def test_the_overview_has_probe_panels_over_contract_series() -> None:
    spec = load_spec(SPEC)
    files = {f.path: json.loads(f.content) for f in dashboards.generate(spec, "spec.yaml") if f.path.endswith(".json")}
    overview = files["dashboards/storefront/overview.json"]
    titles = [p.get("title") for p in overview["panels"]]
    assert "Probe success" in titles and "Synthetic probes" in titles
    allowed = allowed_series(SPEC)
    for expr in queries(overview):
        assert not metric_names(expr) - allowed, expr
    assert any('probe=~"home|checkout"' in e for e in queries(overview))


def test_doctor_cardinality_passes_on_the_probe_and_change_metrics(cli) -> None:  # type: ignore[no-untyped-def]
    paths = [str(ROOT / "src" / "parapet" / p) for p in ("probes", "changes", "metrics/contract.py")]
    result = cli("doctor", "cardinality", "--root", str(ROOT), *paths, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["findings"] == []
