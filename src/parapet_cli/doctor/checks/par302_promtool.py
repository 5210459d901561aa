"""PAR302: promtool accepts the generated rules."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from parapet_cli.doctor.checks._spec import loaded_spec, spec_rel
from parapet_cli.doctor.context import Context
from parapet_cli.doctor.findings import Finding, Severity
from parapet_cli.doctor.registry import THIS, check
from parapet_cli.generators import slo_rules

TIMEOUT = 120


@check(
    "PAR302",
    "promtool-rules",
    title="promtool rejects the generated rules",
    severity=Severity.ERROR,
    fix="Report it as a Parapet bug with the spec attached; meanwhile the previous rule files stay in use.",
)
def promtool_rules(ctx: Context) -> Iterator[Finding]:
    """Prometheus refuses a whole rule file over one bad expression and keeps serving the old rules, so a broken
    file means silently stale alerting. ``promtool check rules`` is the parser Prometheus itself uses; the check
    runs it on the files the spec generates now (info when promtool is not installed)."""
    spec, notes = loaded_spec(ctx, THIS)
    yield from notes
    if spec is None or ctx.spec_path is None:
        return
    promtool = shutil.which("promtool")
    if promtool is None:
        yield Finding(
            THIS,
            Severity.INFO,
            "skipped: promtool is not on PATH, so the generated rules were not checked",
            "install it (Debian: apt-get install prometheus) to have the rules checked",
            subject="no promtool",
        )
        return
    spec_name = Path(os.path.relpath(ctx.spec_path.resolve(), ctx.spec_path.resolve().parent)).as_posix()
    files = slo_rules.generate(spec, spec_name)
    rules = [f for f in files if f.path.endswith(".rules.yml")]
    with tempfile.TemporaryDirectory(prefix="parapet-doctor-") as tmp:
        for f in rules:
            (Path(tmp) / f.path).write_bytes(f.content)
        try:
            proc = subprocess.run(
                [promtool, "check", "rules", *(f.path for f in rules)],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            yield Finding(
                THIS,
                Severity.WARNING,
                f"promtool could not be run: {exc}",
                "check the promtool installation",
                subject="promtool failed to run",
            )
            return
    if proc.returncode != 0:
        output = " ".join((proc.stderr or proc.stdout).split())[:400]
        yield Finding(
            THIS,
            Severity.ERROR,
            f"promtool check rules rejects the rules generated from the spec: {output}",
            "report it as a Parapet bug, with the spec",
            path=spec_rel(ctx),
            subject="promtool rejects rules",
        )
