"""PAR203: every alerting SLO has a runbook that can be opened."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlparse

from parapet_cli.doctor.checks._spec import BAD_CONFIG, GOOD_CONFIG, loaded_spec, spec_line, spec_rel
from parapet_cli.doctor.context import Context
from parapet_cli.doctor.findings import Finding, Severity
from parapet_cli.doctor.registry import THIS, Example, check

_PLACEHOLDER = re.compile(r"\{[A-Za-z_]+\}")


EXAMPLES = (
    Example(
        "bad",
        BAD_CONFIG,
        fires=(
            ("parapet.yaml", 16, "error"),
            ("parapet.yaml", 6, "error"),
        ),
    ),
    Example(
        "good",
        GOOD_CONFIG,
    ),
)


@check(
    "PAR203",
    "runbooks",
    examples=EXAMPLES,
    title="An alerting SLO has no usable runbook",
    severity=Severity.ERROR,
    fix=(
        "Give every alerting SLO a runbook_url: an https:// link, or a path (relative to the spec) of a file in the "
        "repository; templates may use {service} and {slo} only."
    ),
)
def runbooks(ctx: Context) -> Iterator[Finding]:
    """The person paged at night needs the runbook the alert links to. A link with an unreplaced placeholder or a
    path to a file that is not in the repository leaves them with nothing; the spec refuses alerting SLOs without
    any runbook_url, and this check catches the ones that point nowhere."""
    spec, notes = loaded_spec(ctx, THIS)
    yield from notes
    if spec is None or ctx.spec_path is None:
        return
    base = ctx.spec_path.resolve().parent
    for slo in spec.slos:
        if slo.alerting is None:
            continue
        url = slo.alerting.runbook_url.strip()
        problem = None
        if _PLACEHOLDER.search(url):
            problem = f"its runbook_url {url!r} keeps a placeholder Parapet does not replace"
        else:
            parsed = urlparse(url)
            if parsed.scheme in ("http", "https"):
                if not parsed.netloc:
                    problem = f"its runbook_url {url!r} has no host"
            elif parsed.scheme and len(parsed.scheme) > 1:
                problem = f"its runbook_url {url!r} is neither an http(s) link nor a file in the repository"
            else:
                path = url.split("#", 1)[0]
                if not (base / path).is_file() and not (ctx.root / path).is_file():
                    problem = f"its runbook {path!r} is not a file in the repository"
        if problem:
            yield Finding(
                THIS,
                Severity.ERROR,
                f"SLO {slo.name!r} alerts but {problem}",
                "point runbook_url at an https:// page or a file in the repository",
                path=spec_rel(ctx),
                line=spec_line(ctx, f"runbook_url: {url}", f"name: {slo.name}", "runbook_url"),
                subject=f"{slo.name} {url}",
            )
