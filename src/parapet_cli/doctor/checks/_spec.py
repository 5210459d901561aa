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
