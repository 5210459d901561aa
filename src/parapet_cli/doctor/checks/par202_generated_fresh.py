"""PAR202: the generated rule files match the spec."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from parapet.errors import UserError
from parapet_cli.doctor.checks._spec import GOOD_CONFIG, loaded_spec
from parapet_cli.doctor.context import Context
from parapet_cli.doctor.findings import Finding, Severity
from parapet_cli.doctor.registry import THIS, Example, check
from parapet_cli.generators.targets import target
from parapet_cli.plan import Action, build_plan

EXAMPLES = (
    Example(
        "not-generated",
        GOOD_CONFIG,
        fires=(
            (None, None, "warning"),
            (None, None, "warning"),
        ),
    ),
)


@check(
    "PAR202",
    "generated-files-stale",
    examples=EXAMPLES,
    title="Generated files are missing, out of date or edited by hand",
    severity=Severity.ERROR,
    fix="Run `parapet gen slo` and commit the result; move hand edits into the spec (then `--force`).",
)
def generated_fresh(ctx: Context) -> Iterator[Finding]:
    """Prometheus evaluates the rule files on disk, not the spec: after an edit of parapet.yaml that was never
    regenerated, alerts fire on old objectives (or not at all). This is the check `parapet gen slo --check` makes,
    with the same plan: create means missing, update means stale, conflict means edited by hand."""
    spec, notes = loaded_spec(ctx, THIS)
    yield from notes
    if spec is None or ctx.spec_path is None:
        return
    root = ctx.spec_path.resolve().parent
    spec_name = Path(os.path.relpath(ctx.spec_path.resolve(), root)).as_posix()
    slo = target("slo")
    try:
        plan = build_plan(slo.generate(spec, spec_name), root / slo.directory(spec), root)
    except UserError as exc:
        yield Finding(THIS, Severity.ERROR, f"cannot compare generated files: {exc.message}", exc.hint or "")
        return
    for entry in plan.entries:
        rel = ctx.rel(entry.target)
        if entry.action == Action.IDENTICAL:
            continue
        if entry.action == Action.CREATE:
            severity, what = Severity.WARNING, "has not been generated yet"
        elif entry.action == Action.UPDATE:
            severity, what = Severity.ERROR, "is out of date with the spec"
        else:
            severity, what = Severity.ERROR, "differs from what Parapet generated (edited by hand?)"
        yield Finding(
            THIS,
            severity,
            f"{rel} {what}",
            f"run `parapet gen slo --spec {ctx.rel(ctx.spec_path)}` and commit the result",
            path=None if entry.action == Action.CREATE else rel,
            line=None if entry.action == Action.CREATE else 1,
            subject=f"{rel} {entry.action.value}",
        )
