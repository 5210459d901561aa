"""``parapet doctor``: run the health checks and render the report (table, JSON, SARIF or GitHub lines)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, TaskID
from rich.table import Table
from rich.text import Text

from parapet_cli.cli import _render
from parapet_cli.doctor import formats
from parapet_cli.doctor.findings import Severity
from parapet_cli.doctor.runner import Report, run_doctor


class Format(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"


class FailOn(StrEnum):
    warning = "warning"
    error = "error"


_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def doctor(
    checks: Annotated[
        list[str] | None,
        typer.Argument(
            help="Check ids (PAR106), names (metrics-public) or families (multinode, config, store, cardinality)."
        ),
    ] = None,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 when a finding has this severity or a higher one.")
    ] = FailOn.error,
    fmt: Annotated[Format, typer.Option("--format", help="text (a table), json, sarif or github.")] = Format.text,
    root: Annotated[Path, typer.Option("--root", "-C", help="The repository to inspect.")] = Path(),
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec", "-s", help="The spec (default: parapet.yaml in the root, if any).", envvar="PARAPET_SPEC"
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", min=1, help="Processes parsing Python for the cardinality checks (default: all)."),
    ] = None,
    paths: Annotated[
        list[Path] | None,
        typer.Option("--path", help="Limit the cardinality checks to these files or directories (repeatable)."),
    ] = None,
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="Parse every file again (the cache lives in $PARAPET_CACHE_DIR)."),
    ] = False,
    baseline: Annotated[
        Path | None,
        typer.Option("--baseline", help="Findings listed in this file (by fingerprint) are reported as suppressed."),
    ] = None,
    update_baseline: Annotated[
        bool, typer.Option("--update-baseline", help="Write every current finding into --baseline and exit 0.")
    ] = False,
    diff_base: Annotated[
        str | None,
        typer.Option("--diff-base", help="Report only findings on lines changed since this git commit or branch."),
    ] = None,
) -> None:
    """Check the repository for multi-node pitfalls, Parapet's own configuration and label cardinality; exit 1 on
    findings."""
    from parapet_cli.analyzers.baseline import apply_baseline, save_baseline
    from parapet_cli.analyzers.cardinality.engine import Options
    from parapet_cli.analyzers.diffbase import apply_diff_base

    bar = _CardinalityBar() if _render.stderr.is_terminal else None
    options = Options(jobs=jobs, paths=tuple(paths or ()), cache=not no_cache, progress=bar)
    try:
        report = run_doctor(root, spec=spec, selectors=checks or [], fail_on=Severity(fail_on.value), options=[options])
    finally:
        if bar is not None:
            bar.close()
    if update_baseline:
        if baseline is None:
            raise typer.BadParameter("--update-baseline needs --baseline PATH", param_hint="--update-baseline")
        _render.note(f"wrote {save_baseline(report, baseline)} findings to the baseline {baseline}")
        return
    if baseline is not None:
        apply_baseline(report, baseline)
    if diff_base is not None:
        apply_diff_base(report, root, diff_base)
    if fmt == Format.json:
        sys.stdout.write(formats.to_json(report))
    elif fmt == Format.sarif:
        sys.stdout.write(formats.to_sarif(report))
    elif fmt == Format.github:
        sys.stdout.write(formats.to_github(report))
    else:
        render_table(report)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


class _CardinalityBar:
    """Rich progress on stderr while the cardinality checks read and parse files, for people: only when stderr is
    a terminal, drawn from the first report on (a warm run that parses nothing may show none) and gone when done."""

    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self.progress is None:
            self.progress = _render.progress_bar()
            self.progress.start()
            self.task = self.progress.add_task(f"cardinality: {phase}", total=total)
        assert self.task is not None
        self.progress.update(self.task, description=f"cardinality: {phase}", completed=done, total=total)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def render_table(report: Report) -> None:
    if report.topology is not None:
        _render.note(f"topology: {report.topology.summary()}")
    active = report.active
    if active:
        table = Table(show_lines=False, expand=False, pad_edge=False)
        table.add_column("severity", no_wrap=True)
        table.add_column("check", no_wrap=True)
        table.add_column("where", overflow="fold")
        table.add_column("finding", overflow="fold")
        # grouped by file (a rule between files), in line order within each; findings of no file come first
        ordered = sorted(active, key=lambda r: (r.finding.path or "", r.finding.line or 0, r.finding.column or 0))
        previous: str | None = None
        for i, r in enumerate(ordered):
            f = r.finding
            if i and f.path != previous:
                table.add_section()
            previous = f.path
            body = Text(f.message)
            if f.hint:
                body.append(f"\nfix: {f.hint}", style="dim")
            table.add_row(Text(f.severity.value, style=_STYLE[f.severity]), f.rule, f.location() or "-", body)
        _render.stdout.print(table)
    counts = report.counts()
    summary = ", ".join(f"{n} {name}" for name, n in sorted(counts.items(), key=lambda kv: -Severity(kv[0]).rank))
    suppressed = len(report.suppressed)
    tail = f"; {suppressed} suppressed" if suppressed else ""
    verdict = (
        f"failed: {len(report.failed)} at or above {report.fail_on.value}"
        if report.failed
        else f"passed (--fail-on {report.fail_on.value})"
    )
    _render.note(f"{len(report.checks)} checks: {summary}{tail}; {verdict}")
