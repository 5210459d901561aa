"""``escalation:`` in parapet.yaml: what it builds, and every refusal at ``file:line:col`` with a hint."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from parapet.spec import load_spec
from tests.spec.test_spec_errors import GOOD_SLO, HEAD, test_bad_spec

GOOD = """\
escalation:
  working_hours:
    office: {zone: Europe/Berlin, days: mon-fri, from: "09:00", to: "17:00"}
    nights:
      zone: America/New_York
      windows:
        - {days: [sat, sun], from: "00:00", to: "24:00"}
        - {days: fri-mon, from: "22:00", to: "06:00"}
  overdue_after: 1m
  policies:
    - name: payments
      match: {service: [checkout, payments], severity: CRITICAL, labels: {team: payments}}
      during: office
      tiers:
        - after: 0m
          notify: [oncall-slack]
          outside: wait
        - after: 15m
          notify: [lead-teams, lead-email]
          outside: skip
        - after: 30m
          notify: [cto-email]
      repeat: {every: 10m, times: 3}
    - name: default
      tiers:
        - {after: 5m, notify: [oncall-slack]}
"""


def spec_text(escalation: str) -> str:
    return HEAD + GOOD_SLO + escalation


def test_a_full_section_builds(tmp_path: Path) -> None:
    path = tmp_path / "parapet.yaml"
    path.write_text(spec_text(GOOD))
    esc = load_spec(path).escalation
    assert [p.name for p in esc.policies] == ["payments", "default"]
    assert esc.overdue_after == timedelta(minutes=1)
    payments, default = esc.policies
    assert payments.match is not None and payments.match.services == ("checkout", "payments")
    assert payments.match.severities == ("critical",)
    assert payments.match.labels == (("team", ("payments",)),)
    assert [t.after for t in payments.tiers] == [timedelta(0), timedelta(minutes=15), timedelta(minutes=30)]
    assert [t.outside for t in payments.tiers] == ["wait", "skip", "wait"]
    assert all(t.hours is not None and t.hours.name == "office" for t in payments.tiers)
    assert payments.repeat_every == timedelta(minutes=10) and payments.repeat_times == 3
    assert default.match is None and default.tiers[0].hours is None
    office, nights = esc.working_hours
    assert office.windows[0].days == frozenset({1, 2, 3, 4, 5})
    assert (office.windows[0].start, office.windows[0].end) == (540, 1020)
    assert nights.windows[1].days == frozenset({5, 6, 7, 1}) and nights.windows[1].end == 360
    assert payments.tiers[1].line == 29


def test_no_section_is_no_escalation(tmp_path: Path) -> None:
    path = tmp_path / "parapet.yaml"
    path.write_text(spec_text(""))
    assert load_spec(path).escalation.policies == ()


def _policies(body: str) -> str:
    return "escalation:\n  policies:\n" + body


TIER = "        - {after: 0m, notify: [oncall]}\n"
# (id, escalation text, line, field, message, hint); the spec's first 11 lines are the SLO.
CASES = [
    (
        "unknown-zone",
        'escalation:\n  working_hours:\n    office: {zone: Europe/Berlinn, from: "09:00", to: "17:00"}\n'
        + "  policies:\n    - name: a\n      tiers:\n"
        + TIER,
        14,
        "escalation.working_hours.office.zone",
        "unknown time zone 'Europe/Berlinn'",
        "IANA time zone",
    ),
    (
        "bad-days",
        'escalation:\n  working_hours:\n    office: {zone: UTC, days: mon-fry, from: "09:00", to: "17:00"}\n'
        + "  policies:\n    - name: a\n      tiers:\n"
        + TIER,
        14,
        "escalation.working_hours.office.days",
        "'mon-fry' is not a day",
        "mon-fri",
    ),
    (
        "bad-time",
        'escalation:\n  working_hours:\n    office: {zone: UTC, from: "9am", to: "17:00"}\n'
        + "  policies:\n    - name: a\n      tiers:\n"
        + TIER,
        14,
        "escalation.working_hours.office.from",
        "'9am' is not a valid from",
        "see docs/spec.md",
    ),
    (
        "empty-window",
        'escalation:\n  working_hours:\n    office: {zone: UTC, from: "09:00", to: "09:00"}\n'
        + "  policies:\n    - name: a\n      tiers:\n"
        + TIER,
        14,
        "escalation.working_hours.office.to",
        "is empty",
        "different time",
    ),
    (
        "undeclared-calendar",
        _policies("    - name: a\n      tiers:\n        - {after: 0m, notify: [oncall], during: ofice}\n"),
        16,
        "escalation.policies[0].tiers[0].during",
        "working hours 'ofice' are not declared",
        "escalation.working_hours",
    ),
    (
        "tiers-out-of-order",
        _policies("    - name: a\n      tiers:\n" + TIER.replace("0m", "15m") + TIER.replace("0m", "5m")),
        17,
        "escalation.policies[0].tiers[1].after",
        "tier 1 is due after 5m, before the tier above it",
        "order the tiers",
    ),
    (
        "bad-duration",
        _policies("    - name: a\n      tiers:\n" + TIER.replace("0m", "5 minutes")),
        16,
        "escalation.policies[0].tiers[0].after",
        "'5 minutes' is not a valid after",
        "docs/spec.md",
    ),
    (
        "no-targets",
        _policies("    - name: a\n      tiers:\n        - {after: 0m, notify: []}\n"),
        16,
        "escalation.policies[0].tiers[0].notify",
        "notify needs at least 1 item",
        "add an entry under notify:",
    ),
    (
        "catch-all-not-last",
        _policies(
            "    - name: all\n      tiers:\n"
            + TIER
            + "    - name: late\n      match: {service: x}\n      tiers:\n"
            + TIER
        ),
        17,
        "escalation.policies[1].name",
        "policy 'late' is never chosen",
        "move it last",
    ),
    (
        "duplicate-policy",
        _policies(
            "    - name: a\n      match: {service: x}\n      tiers:\n" + TIER + "    - name: a\n      tiers:\n" + TIER
        ),
        18,
        "escalation.policies[1].name",
        "duplicate escalation policy 'a'",
        "line 14",
    ),
    (
        "outside-without-hours",
        _policies("    - name: a\n      tiers:\n        - {after: 0m, notify: [oncall], outside: skip}\n"),
        16,
        "escalation.policies[0].tiers[0].outside",
        "outside: applies only to a tier with working hours",
        "during:",
    ),
    (
        "repeat-zero",
        _policies("    - name: a\n      tiers:\n" + TIER + "      repeat: {every: 0s, times: 2}\n"),
        17,
        "escalation.policies[0].repeat.every",
        "repeat every 0s",
        "10m",
    ),
    (
        "unknown-key",
        _policies("    - name: a\n      tiers:\n        - {after: 0m, notfy: [oncall]}\n"),
        16,
        "escalation.policies[0].tiers[0].notfy",
        "unknown key 'notfy'",
        "did you mean 'notify'",
    ),
    (
        "no-policies",
        "escalation:\n  policies: []\n",
        13,
        "escalation.policies",
        "policies needs at least 1 item",
        "add an entry under policies:",
    ),
]


@pytest.mark.parametrize(("text", "line", "field", "message", "hint"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_bad_escalation(tmp_path: Path, cli, text: str, line: int, field: str, message: str, hint: str) -> None:  # type: ignore[no-untyped-def]
    test_bad_spec(tmp_path, cli, spec_text(text), line, field, message, hint)


def test_targets_are_checked_against_declared_notifiers(tmp_path: Path) -> None:
    """With a ``notifiers:`` section (the notifier engineers' schema), an undeclared target is refused at its line."""
    from parapet.errors import SpecError
    from parapet.spec import v1
    from parapet.spec.escalation import build_escalation
    from parapet.spec.source import load_documents

    path = tmp_path / "parapet.yaml"
    path.write_text(spec_text(_policies("    - name: a\n      tiers:\n        - {after: 0m, notify: [oncal]}\n")))
    doc = load_documents(path, None)[0]
    section = v1.Escalation.model_validate(doc.data["escalation"])
    assert build_escalation(doc, section, None).policies[0].tiers[0].notify == ("oncal",)
    with pytest.raises(SpecError) as caught:
        build_escalation(doc, section, frozenset({"oncall", "cto"}))
    assert caught.value.location is not None and caught.value.location.line == 16
    assert "notifier target 'oncal' is not declared" in str(caught.value)
    assert "did you mean 'oncall'" in (caught.value.hint or "")
