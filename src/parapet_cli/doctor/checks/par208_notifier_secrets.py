"""PAR208: a notifier's secret cannot be read where the spec says (environment variable unset, file unreadable)."""

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
notifiers:
  ops-slack:
    kind: slack
    channel: C0123ABCDEF
"""

EXAMPLES = (
    Example(
        "missing",
        {
            "parapet.yaml": _SPEC
            + """\
    token_env: PARAPET_EXAMPLE_UNSET_SLACK_TOKEN
  ops-hook:
    kind: webhook
    url: https://hooks.example.com/parapet
    secret_file: secrets/webhook-secret
  short-slack:
    kind: slack
    channel: C0123ABCDEF
    token_file: secrets/short-token
""",
            "secrets/short-token": "xoxb\n",
        },
        fires=(("parapet.yaml", 11, "error"), ("parapet.yaml", 15, "error"), ("parapet.yaml", 19, "error")),
    ),
    Example(
        "readable",
        {
            "parapet.yaml": _SPEC + "    token_file: secrets/slack-token\n",
            "secrets/slack-token": "xoxb-0000000000-example-token\n",
        },
    ),
)


@check(
    "PAR208",
    "notifier-secrets",
    examples=EXAMPLES,
    title="A notifier's secret cannot be read",
    severity=Severity.ERROR,
    fix=(
        "Set the environment variable the notifier's *_env names in every Parapet process (serve, worker, the "
        "host app), or create the file its *_file names, readable by them and holding only the secret; see "
        "docs/notifiers.md#secrets."
    ),
)
def notifier_secrets(ctx: Context) -> Iterator[Finding]:
    """A notifier whose token, URL or key cannot be read announces nothing: each delivery fails, is retried and
    is dead-lettered, and the incident goes unheard. The check reads every secret reference of ``notifiers:``
    where the runtime would (this process's environment, the file relative to the spec) and names the target,
    the field and where it looked, never the value. Run it where the workers run: a variable set only in the
    production environment is unset on a laptop."""
    spec, notes = loaded_spec(ctx, THIS)
    yield from notes
    if spec is None:
        return
    from parapet.notify.secrets import check as check_secret

    for target in spec.notifiers:
        for ref in target.secrets:
            problem = check_secret(ref)
            if problem is None:
                continue
            yield Finding(
                THIS,
                Severity.ERROR,
                f"notifier {target.name}: {problem}",
                f"set {ref.field}_env or {ref.field}_file to something every Parapet process can read",
                path=spec_rel(ctx),
                line=target.line or spec_line(ctx, f"{target.name}:"),
                subject=f"{target.name}.{ref.field}",
            )
