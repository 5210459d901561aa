"""PAR201: the spec loads."""

from __future__ import annotations

from collections.abc import Iterator

from parapet_cli.doctor.checks._spec import GOOD_CONFIG
from parapet_cli.doctor.context import Context
from parapet_cli.doctor.findings import Finding, Severity
from parapet_cli.doctor.registry import THIS, Example, check

EXAMPLES = (
    Example(
        "invalid-spec",
        {
            "parapet.yaml": """\
version: parapet/v1
service: shop
slos:
  - name: availability
    objective: 100.5
    sli:
      http: {}
""",
        },
        fires=(("parapet.yaml", 5, "error"),),
    ),
    Example(
        "good",
        GOOD_CONFIG,
    ),
)


@check(
    "PAR201",
    "spec-loads",
    examples=EXAMPLES,
    title="parapet.yaml does not load",
    severity=Severity.ERROR,
    fix="Fix the spec at the position named (see docs/spec.md); `parapet gen slo --check` shows the same error.",
)
def spec_loads(ctx: Context) -> Iterator[Finding]:
    """Every Parapet command starts from the spec: while it does not load, no rule, dashboard or check can be
    generated, and a CI job that only runs generators fails far from the cause. Without a spec in the repository
    the other Parapet checks are skipped (an info)."""
    if ctx.spec_path is None:
        yield Finding(
            THIS,
            Severity.INFO,
            "no parapet.yaml in the repository: Parapet's own checks (PAR2xx, PAR3xx) are skipped",
            "create parapet.yaml (see docs/spec.md) or pass --spec",
            subject="no spec",
        )
        return
    error = ctx.spec_error
    if error is None:
        return
    loc = error.location
    field = f"{loc.field}: " if loc.field else ""
    yield Finding(
        THIS,
        Severity.ERROR,
        f"the spec does not load: {field}{error.message}",
        error.hint or "see docs/spec.md",
        path=ctx.rel(loc.path) if loc.path is not None else ctx.rel(ctx.spec_path),
        line=loc.line,
        column=loc.column,
        subject=f"{field}{error.message}",
    )
