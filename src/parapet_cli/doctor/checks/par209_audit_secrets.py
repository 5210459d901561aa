"""PAR209: every audit sink can read its secret (an HTTP sink's URL or token from the environment or a file)."""

from __future__ import annotations

from collections.abc import Iterator

from parapet_cli.doctor.checks._spec import loaded_spec, spec_line, spec_rel
from parapet_cli.doctor.context import Context
from parapet_cli.doctor.findings import Finding, Severity
from parapet_cli.doctor.registry import THIS, Example, check

_SPEC = """\
version: parapet/v1
service: shop
alerting:
  runbook_url: https://wiki.example.com/runbooks/{slo}
slos:
  - name: availability
    objective: 99.9
    sli:
      http: {}
audit:
  sinks:
    - name: file
      kind: jsonl
      path: var/audit.jsonl
"""

EXAMPLES = (
    Example(
        "missing",
        {
            "parapet.yaml": _SPEC
            + """\
    - name: siem
      kind: http
      url: https://siem.example.com/ingest
      token_env: PARAPET_EXAMPLE_UNSET_AUDIT_TOKEN
    - name: archive
      kind: http
      url_file: secrets/audit-url
""",
        },
        fires=(("parapet.yaml", 15, "error"), ("parapet.yaml", 19, "error")),
    ),
    Example(
        "present",
        {
            "parapet.yaml": _SPEC
            + """\
    - name: archive
      kind: http
      url_file: secrets/audit-url
""",
            "secrets/audit-url": "https://siem.example.com/ingest?sig=abc\n",
        },
    ),
)


@check(
    "PAR209",
    "audit-secrets",
    examples=EXAMPLES,
    title="An audit sink cannot read its secret",
    severity=Severity.ERROR,
    fix=(
        "Set the environment variable, or create the file, that the sink's url_env/url_file/token_env/token_file "
        "names, where Parapet runs; see docs/audit.md."
    ),
)
def audit_secrets(ctx: Context) -> Iterator[Finding]:
    """An audit sink whose URL or token is missing takes no event: they wait in the outbox (nothing is lost) but
    the compliance copy falls behind from the first action. The check names the variable or file, never the
    secret."""
    spec, notes = loaded_spec(ctx, THIS)
    yield from notes
    if spec is None:
        return
    from parapet.audit import secret_problem

    for sink in spec.audit.sinks:
        problem = secret_problem(sink)
        if problem is not None:
            yield Finding(
                THIS,
                Severity.ERROR,
                problem,
                "set it where `parapet serve` and `parapet worker` run (a Kubernetes Secret, a systemd "
                "EnvironmentFile), or fix the reference",
                path=spec_rel(ctx),
                line=spec_line(ctx, f"name: {sink.name}"),
                subject=sink.name,
            )
