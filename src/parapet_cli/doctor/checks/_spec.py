"""Shared by the PAR2xx/PAR3xx checks: the spec they need, or the note that explains why they could not run."""

from __future__ import annotations

from parapet.spec.model import Spec
from parapet_cli.doctor.context import Context
from parapet_cli.doctor.findings import Finding, Severity


def loaded_spec(ctx: Context, rule: str) -> tuple[Spec | None, list[Finding]]:
    """The loaded spec; None with nothing to say when there is no spec, None with a note when it does not load."""
    if ctx.spec is not None:
        return ctx.spec, []
    if ctx.spec_path is None:
        return None, []
    return None, [
        Finding(
            rule,
            Severity.INFO,
            "skipped: the spec does not load (see PAR201)",
            "fix the spec first",
            path=ctx.rel(ctx.spec_path),
            subject="spec does not load",
        )
    ]


def spec_rel(ctx: Context) -> str | None:
    return ctx.rel(ctx.spec_path) if ctx.spec_path is not None else None


def spec_line(ctx: Context, *needles: str) -> int | None:
    """The first line of the spec that contains one of ``needles`` (tried in order)."""
    lines = ctx.repo.lines(spec_rel(ctx) or "") if ctx.spec_path is not None else []
    for needle in needles:
        for number, text in enumerate(lines, start=1):
            if needle and needle in text:
                return number
    return None


# The repositories the configuration checks are proven on (their examples): a healthy configuration, and one whose
# runbooks point nowhere and whose Alertmanager receiver has no auth or route.
GOOD_CONFIG = {
    "monitoring/alertmanager.yml": """\
route:
  receiver: default
  routes:
    - matchers: ['service="shop"']
      receiver: parapet
receivers:
  - name: default
  - name: parapet
    webhook_configs:
      - url: https://shop.example.com/parapet/webhook
        http_config:
          authorization:
            credentials_file: /etc/alertmanager/secrets/parapet-token
""",
    "monitoring/legacy-alertmanager.yml": """\
route:
  receiver: email
receivers:
  - name: email
    email_configs:
      - to: ops@example.com
""",
    "parapet.yaml": """\
version: parapet/v1
service: shop
alerting:
  runbook_url: runbooks/{slo}.md
slos:
  - name: availability
    objective: 99.9
    sli:
      http: {}
topology:
  replicas: 3
  workers: 4
doctor:
  ignore:
    - rule: PAR204
      path: monitoring/legacy-*.yml
      reason: the legacy Alertmanager is being retired and never pages Parapet
""",
    "runbooks/availability.md": """\
# Shop availability

1. Check the error-rate panel of the shop dashboard.
2. Roll back the last deploy if errors started with it.
""",
}
BAD_CONFIG = {
    "monitoring/alertmanager.yml": """\
route:
  receiver: default
receivers:
  - name: default
  - name: parapet
    webhook_configs:
      - url: http://shop.internal:8000/parapet/webhook
""",
    "parapet.yaml": """\
version: parapet/v1
service: shop
alerting:
  runbook_url: runbooks/{slo}.md
slos:
  - name: availability
    objective: 99.9
    sli:
      http: {}
  - name: latency
    objective: 99
    sli:
      latency:
        threshold: 0.5
    alerting:
      runbook_url: https://wiki.example.com/runbooks/{team}/latency
""",
}
