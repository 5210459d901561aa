"""``parapet doctor``: run the health checks and render the report (table, JSON, SARIF or GitHub lines)."""

from __future__ import annotations

import os
import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, TaskID
from rich.table import Table
from rich.text import Text

from parapet.errors import UsageError
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
    words: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="PATH|CHECK",
            help="Files or directories whose Python code the cardinality checks read (default: the whole root). "
            "A check id, name or family here selects it as --select does: parapet doctor cardinality src/ app/.",
        ),
    ] = None,
    select: Annotated[
        list[str] | None,
        typer.Option(
            "--select",
            metavar="<check>",
            help="Run only these checks: ids (PAR106), names (metrics-public) or families (multinode, config, "
            "store, cardinality). Repeat it, or separate with commas.",
        ),
    ] = None,
    ignore: Annotated[
        list[str] | None,
        typer.Option("--ignore", metavar="<check>", help="Do not run these checks (ids, names or families)."),
    ] = None,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 when a finding has this severity or a higher one.")
    ] = FailOn.error,
    fmt: Annotated[Format, typer.Option("--format", help="text (a table), json, sarif or github.")] = Format.text,
    root: Annotated[
        Path,
        typer.Option(
            "--root", "-C", metavar="<dir>", help="The repository to inspect (its deployment files and code)."
        ),
    ] = Path(),
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec",
            "-s",
            metavar="<file>",
            help="The spec (default: parapet.yaml in the root, if any).",
            envvar="PARAPET_SPEC",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            metavar="<n>",
            help="Processes parsing Python for the cardinality checks (default: all).",
        ),
    ] = None,
    old_paths: Annotated[
        list[Path] | None,
        typer.Option("--path", metavar="<path>", hidden=True, help="The same as a PATH argument (kept for scripts)."),
    ] = None,
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="Parse every file again (the cache lives in $PARAPET_CACHE_DIR)."),
    ] = False,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            metavar="<file>",
            help="Findings listed in this file (by fingerprint) are reported as suppressed.",
        ),
    ] = None,
    update_baseline: Annotated[
        bool, typer.Option("--update-baseline", help="Write every current finding into --baseline and exit 0.")
    ] = False,
    diff_base: Annotated[
        str | None,
        typer.Option(
            "--diff-base",
            metavar="<commit>",
            help="Report only findings on lines changed since this git commit or branch.",
        ),
    ] = None,
) -> None:
    """Check the repository for multi-node pitfalls, Parapet's own configuration and label cardinality; exit 1 on
    findings."""
    from parapet_cli.analyzers.baseline import apply_baseline, save_baseline
    from parapet_cli.analyzers.cardinality.engine import Options
    from parapet_cli.analyzers.diffbase import apply_diff_base

    chosen, paths = split_words(words or [])
    checks = selection([*chosen, *_commas(select)], _commas(ignore))
    bar = _CardinalityBar() if _render.stderr.is_terminal else None
    options = Options(jobs=jobs, paths=(*paths, *(old_paths or ())), cache=not no_cache, progress=bar)
    try:
        report = run_doctor(
            root,
            spec=spec,
            selectors=checks,
            fail_on=Severity(fail_on.value),
            options=[options],
            cache=not no_cache,
        )
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


def _commas(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


_CHECK_ID = re.compile(r"^par\d{3}$", re.IGNORECASE)


def _is_check(word: str) -> bool:
    from parapet_cli.doctor.registry import UnknownCheck, select

    try:
        select([word])
    except UnknownCheck:
        return False
    return True


def split_words(words: list[str]) -> tuple[list[str], list[Path]]:
    """Positional words into checks and paths, as ruff and mypy take paths. A word that names a check and does not
    look like a path (no ``/``, no leading ``.``, no ``.py``) is a check, so ``parapet doctor cardinality src/``
    keeps working; write ``./config`` for a directory named like a check. Anything else must exist."""
    checks: list[str] = []
    paths: list[Path] = []
    for word in words:
        pathish = "/" in word or os.sep in word or word.startswith(".") or word.endswith(".py")
        if not pathish and (_is_check(word) or (_CHECK_ID.match(word) and not os.path.lexists(word))):
            checks.append(word)  # an id of no check (PAR999) is reported as an unknown check by the registry
        elif os.path.lexists(word) and Path(word).exists():
            paths.append(Path(word))
        elif pathish or os.path.lexists(word):
            raise UsageError(
                f"no such file or directory: {word}", hint="pass files or directories inside --root (default: .)"
            )
        else:
            raise UsageError(
                f"{word!r} is neither a path nor a check",
                hint="checks are ids (PAR101), names or families (multinode, config, store, cardinality); see "
                "docs/checks.md. Paths must exist",
            )
    return checks, paths


def selection(select: list[str], ignore: list[str]) -> list[str]:
    """The ids of the checks to run: those selected (all if none) minus those ignored."""
    from parapet_cli.doctor.registry import select as resolve

    if not ignore:
        return select
    skipped = {c.info.id for c in resolve(ignore)}
    left = [c.info.id for c in resolve(select) if c.info.id not in skipped]
    if not left:
        raise UsageError("--ignore leaves no check to run", hint="ignore fewer checks, or select others")
    return left


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
            for x in f.related:  # the other places of the same cause, under it
                body.append(f"\n  also {x.location()}: {x.message}")
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
