"""``parapet gen runbooks``: the recovery runbook templates shipped with Parapet, written into the host to adapt.

    runbooks/stalled-queue.md      a Celery or RQ queue has stalled
    runbooks/dead-letters.md       jobs pile up in the dead-letter queue
    runbooks/provider-outage.md    an outside provider (email, payments) is down
    runbooks/callback-backlog.md   incoming callbacks (webhooks) back up
    runbooks/bad-deploy.md         a deploy broke it (links to the deploy markers)
    runbooks/runbooks.yaml         the ``runbooks:`` entries that attach them, to paste into parapet.yaml

The templates live in ``parapet_cli/templates/runbooks/`` and are filled with the service's name and its
overview dashboard. They are meant to be edited: the manifest remembers what was written, so a file edited
since is a conflict (kept, unless ``--force``); re-running is safe, and ``--check`` reports drift.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Final

from jinja2 import Environment, StrictUndefined

from parapet import conventions as c
from parapet.spec.model import SLIKind, Spec
from parapet_cli.generators import PlannedFile

GENERATOR: Final = "runbooks"
DEFAULT_DIR: Final = "runbooks"
GUIDES: Final = ("stalled-queue", "dead-letters", "provider-outage", "callback-backlog", "bad-deploy")
SNIPPET: Final = "runbooks.yaml"


def _environment() -> Environment:
    return Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


def dashboard_link(spec: Spec) -> str:
    """The service's overview dashboard: from an SLO's ``dashboard_url`` when the spec has one (the SLO's uid
    swapped for the overview's), else Grafana's path to it on a placeholder host."""
    overview = c.overview_dashboard_uid(spec.service)
    for slo in spec.slos:
        if slo.alerting is not None and slo.alerting.dashboard_url:
            url = slo.alerting.dashboard_url
            uid = c.slo_dashboard_uid(spec.service, slo.name)
            if uid in url:
                return url.replace(uid, overview).split("?", 1)[0]
    return f"https://grafana.example.com/d/{overview}"


def _queue_match(spec: Spec) -> str:
    for slo in spec.slos:
        if slo.sli.kind in (SLIKind.JOB, SLIKind.FRESHNESS):
            return f"slo: {slo.name}"
    return f"service: {spec.service}, labels: {{queue: default}}"


def _stamp(spec_name: str) -> str:
    return f"Written by parapet gen runbooks from {spec_name}: a template to adapt (once edited, parapet keeps it)."


def generate(spec: Spec, spec_name: str, directory: str = DEFAULT_DIR) -> list[PlannedFile]:
    root = files("parapet_cli").joinpath("templates", "runbooks")
    env = _environment()
    values = {
        "service": spec.service,
        "dashboard": dashboard_link(spec),
        "directory": directory,
        "package": spec.service.replace("-", "_").replace(".", "_"),
        "queue_match": _queue_match(spec),
    }
    out = []
    for name in GUIDES:
        text = env.from_string(root.joinpath(f"{name}.md").read_text(encoding="utf-8")).render(values)
        out.append(PlannedFile(f"{name}.md", f"<!-- {_stamp(spec_name)} -->\n{text}".encode(), GENERATOR))
    snippet = env.from_string(root.joinpath(SNIPPET).read_text(encoding="utf-8")).render(values)
    out.append(PlannedFile(SNIPPET, f"# {_stamp(spec_name)}\n{snippet}".encode(), GENERATOR))
    return out
