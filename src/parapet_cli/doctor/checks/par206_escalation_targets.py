"""PAR206: escalation notifies a target no notifier declares."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from parapet_cli.doctor.checks._spec import loaded_spec, spec_rel
from parapet_cli.doctor.context import Context
from parapet_cli.doctor.findings import Finding, Severity
from parapet_cli.doctor.registry import THIS, Example, check

_HEAD = """\
version: parapet/v1
service: shop
alerting:
  runbook_url: https://runbooks.example.com/{slo}
slos:
  - name: availability
    objective: 99.9
    sli:
      http: {}
"""
EXAMPLES = (
    Example(
        "bad",
        {
            "parapet.yaml": _HEAD
            + """\
escalation:
  policies:
    - name: default
      tiers:
        - {after: 0m, notify: [oncall-slack]}
        - {after: 15m, notify: [team-lead, oncall-slack]}
"""
        },
        fires=(("parapet.yaml", 14, "error"), ("parapet.yaml", 15, "error"), ("parapet.yaml", 15, "error")),
    ),
    Example("good", {"parapet.yaml": _HEAD}),
)


def declared_targets(spec: Any) -> frozenset[str]:
    """The notifier target names the spec declares (``notifiers:``: a mapping name -> settings, or a sequence of
    items with a ``name``); none when the spec has no notifiers."""
    notifiers = getattr(spec, "notifiers", None)
    if isinstance(notifiers, Mapping):
        return frozenset(str(k) for k in notifiers)
    if isinstance(notifiers, list | tuple):
        return frozenset(str(getattr(n, "name", n)) for n in notifiers)
    return frozenset()


@check(
    "PAR206",
    "escalation-targets",
    examples=EXAMPLES,
    title="Escalation notifies a target that no notifier declares",
    severity=Severity.ERROR,
    fix=(
        "Declare every target a tier's notify: names under notifiers: (docs/notifiers.md), or fix the name; "
        "a step that notifies an undeclared target pages nobody."
    ),
)
def escalation_targets(ctx: Context) -> Iterator[Finding]:
    """An escalation tier that notifies an undeclared target writes its outbox job and then nobody is told: the
    step ran, the timeline says "escalated", and no phone rang. The spec refuses such a name when it declares
    notifiers; this check also catches a spec that declares none."""
    spec, notes = loaded_spec(ctx, THIS)
    yield from notes
    if spec is None:
        return
    declared = declared_targets(spec)
    for policy in spec.escalation.policies:
        for index, tier in enumerate(policy.tiers):
            for target in tier.notify:
                if target in declared:
                    continue
                yield Finding(
                    THIS,
                    Severity.ERROR,
                    f"escalation policy {policy.name!r} tier {index} notifies {target!r}, which no notifier declares",
                    f"add {target}: under notifiers: (kind slack, teams, webhook or email), or fix the name",
                    path=spec_rel(ctx),
                    line=tier.line,
                    subject=f"{policy.name} {index} {target}",
                )
