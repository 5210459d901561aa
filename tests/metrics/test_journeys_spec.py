"""Journeys declared from the spec: ``Spec.journeys`` and ``declare_journeys_from_spec``."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from parapet.errors import SpecError
from parapet.metrics import LabelValueError, declare_journeys, declare_journeys_from_spec, journey
from parapet.spec import load_spec
from tests.metrics.scrape import assert_contract, scrape, total

SPEC = """\
version: parapet/v1
service: checkout
alerting:
  runbook_url: https://runbooks.example.com/{service}/{slo}
slos:
  - pack: web
    availability: 99.9
    latency: {threshold: 0.5, objective: 99}
  - name: login-journey
    objective: 99.9
    sli:
      journey: {name: login}
  - name: receipts
    objective: 99
    sli:
      job: {task: checkout.tasks.send_receipt, framework: procrastinate}
  - name: checkout-journey
    objective: 99.5
    sli:
      journey: {name: checkout}
  - name: checkout-journey-eu
    objective: 99
    labels: {region: eu}
    sli:
      journey: {name: checkout}
"""

NO_JOURNEYS = """\
version: parapet/v1
service: checkout
alerting:
  runbook_url: https://runbooks.example.com/{service}/{slo}
slos:
  - name: receipts
    objective: 99
    sli:
      job: {task: checkout.tasks.send_receipt}
"""

SLOTH = """\
version: prometheus/v1
service: checkout
slos:
  - name: requests-availability
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total[{{.window}}]))
    alerting:
      name: CheckoutHighErrorRate
      page_alert: {disable: true}
      ticket_alert: {disable: true}
"""


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def write(tmp_path: Path, text: str, name: str = "parapet.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_spec_lists_its_journeys_once_in_spec_order(tmp_path: Path) -> None:
    assert load_spec(write(tmp_path, SPEC)).journeys == ("login", "checkout")
    assert load_spec(write(tmp_path, NO_JOURNEYS)).journeys == ()
    assert load_spec(write(tmp_path, SLOTH, "sloth.yaml")).journeys == ()


def test_declare_journeys_from_the_spec(tmp_path: Path, registry: CollectorRegistry) -> None:
    with pytest.raises(LabelValueError, match="journey 'checkout' is not declared"):
        journey("checkout", registry=registry)
    assert declare_journeys_from_spec(write(tmp_path, SPEC), registry=registry) == ("checkout", "login")
    with journey("checkout", registry=registry):
        pass
    with journey("login", registry=registry) as run:
        run.fail()
    with pytest.raises(LabelValueError, match=r"journey 'search' is not declared \(declared: checkout, login\)"):
        journey("search", registry=registry)
    # code may declare journeys no SLO names yet; the spec's stay declared
    assert declare_journeys("search", registry=registry) == ("checkout", "login", "search")
    assert declare_journeys_from_spec(tmp_path / "parapet.yaml", registry=registry) == ("checkout", "login", "search")

    found = scrape(registry)
    assert_contract(found, ("parapet_journey_events",))
    assert total(found, "parapet_journey_events_total", journey="checkout", outcome="success") == 1
    assert total(found, "parapet_journey_events_total", journey="login", outcome="failure") == 1


def test_default_path_is_parapet_yaml_in_the_working_directory(
    tmp_path: Path, registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, SPEC)
    monkeypatch.chdir(tmp_path)
    assert declare_journeys_from_spec(registry=registry) == ("checkout", "login")


def test_a_spec_without_journeys_declares_nothing(tmp_path: Path, registry: CollectorRegistry) -> None:
    path = write(tmp_path, NO_JOURNEYS)
    assert declare_journeys_from_spec(path, registry=registry) == ()
    assert "parapet_journey_events" not in scrape(registry)
    declare_journeys("signup", registry=registry)
    assert declare_journeys_from_spec(str(path), registry=registry) == ("signup",)


def test_a_broken_or_missing_spec_raises_spec_error(tmp_path: Path, registry: CollectorRegistry) -> None:
    broken = write(tmp_path, SPEC.replace("{name: checkout}", "{name: Check Out}"))
    with pytest.raises(SpecError) as caught:
        declare_journeys_from_spec(broken, registry=registry)
    assert caught.value.location.path == broken
    assert caught.value.location.field == "slos[3].sli.journey.name"
    with pytest.raises(SpecError, match="spec file not found"):
        declare_journeys_from_spec(tmp_path / "missing.yaml", registry=registry)
    assert "parapet_journey_events" not in scrape(registry)
