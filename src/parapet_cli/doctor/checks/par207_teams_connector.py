"""PAR207: a Teams notifier still points at a retired Office 365 connector instead of a Workflows webhook."""

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
"""
_WORKFLOWS = (
    "https://prod-12.westeurope.logic.azure.com:443/workflows/0a1b2c/triggers/manual/paths/invoke"
    "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789\n"
)

EXAMPLES = (
    Example(
        "retired",
        {
            "parapet.yaml": _SPEC
            + """\
  ops-teams:
    kind: teams
    url_file: secrets/ops-teams-url
  dev-teams:
    kind: teams
    url_file: secrets/dev-teams-url
  new-teams:
    kind: teams
    url_file: secrets/new-teams-url
""",
            "secrets/ops-teams-url": "https://contoso.webhook.office.com/webhookb2/0a1b@2c3d/IncomingWebhook/4e5f/6a7b\n",
            "secrets/dev-teams-url": "https://outlook.office.com/webhook/0a1b@2c3d/IncomingWebhook/4e5f/6a7b\n",
            "secrets/new-teams-url": _WORKFLOWS,
        },
        fires=(("parapet.yaml", 11, "error"), ("parapet.yaml", 14, "error")),
    ),
    Example(
        "workflows",
        {
            "parapet.yaml": _SPEC
            + """\
  ops-teams:
    kind: teams
    url_file: secrets/ops-teams-url
  unset-teams:
    kind: teams
    url_env: PARAPET_EXAMPLE_UNSET_TEAMS_URL
""",
            "secrets/ops-teams-url": _WORKFLOWS,
        },
    ),
)


@check(
    "PAR207",
    "teams-connector",
    examples=EXAMPLES,
    title="A Teams notifier posts to a retired Office 365 connector URL",
    severity=Severity.ERROR,
    fix=(
        "In the Teams channel, add the Workflows template 'Post to a channel when a webhook request is received' "
        "and put the URL it shows in the variable or file the notifier's url_env/url_file names; see "
        "docs/notifiers.md#microsoft-teams."
    ),
)
def teams_connector(ctx: Context) -> Iterator[Finding]:
    """Office 365 connector webhooks (outlook.office.com/webhook/…, <tenant>.webhook.office.com/webhookb2/…) are
    retired: a post to one fails, so a Teams target still configured with one announces nothing, and nobody
    notices until an incident goes unheard. The check reads each Teams target's URL where Parapet would (its
    environment variable or file) and names the target and where its URL comes from, never the URL: the URL is
    a secret. A URL that cannot be read is PAR208's finding, not this one's."""
    spec, notes = loaded_spec(ctx, THIS)
    yield from notes
    if spec is None:
        return
    from parapet.notify.base import SecretUnavailable
    from parapet.notify.secrets import read
    from parapet.notify.teams import retired_connector

    for target in spec.notifiers:
        ref = target.secret("url")
        if target.kind != "teams" or ref is None:
            continue
        try:
            url = read(ref)
        except SecretUnavailable:
            continue  # PAR208 reports it
        if retired_connector(url):
            yield Finding(
                THIS,
                Severity.ERROR,
                f"Teams notifier {target.name}: the URL in {ref.where} is a retired Office 365 connector",
                "create a Workflows webhook in the channel ('Post to a channel when a webhook request is received') "
                "and put its URL there instead",
                path=spec_rel(ctx),
                line=target.line or spec_line(ctx, f"{target.name}:"),
                subject=target.name,
            )
