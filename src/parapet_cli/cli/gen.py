"""``parapet gen …``: generators through the plan/apply layer."""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from parapet.errors import EXIT_FINDINGS, WriteRefused
from parapet.spec import Spec, load_spec
from parapet_cli.cli import _render
from parapet_cli.generators import PlannedFile, header, slo_rules
from parapet_cli.plan import apply_plan, build_plan, unified_diff

SLO_SUFFIXES = (".slo.rules.yml", ".slo.test.yml")

gen_app = typer.Typer(help="Generate files from the spec.", no_args_is_help=True, rich_markup_mode=None)


class Format(StrEnum):
    text = "text"
    json = "json"


SpecOpt = Annotated[
    Path,
    typer.Option(
        "--spec",
        "-s",
        help="The spec: parapet.yaml, a Sloth prometheus/v1 file or OpenSLO openslo/v1 documents.",
        envvar="PARAPET_SPEC",
    ),
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="Output directory (default: the spec's output.rules_dir).")
]
CheckOpt = Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 if any file would change.")]
DiffOpt = Annotated[bool, typer.Option("--diff", help="Print a unified diff of what would change.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite files edited by hand (conflicts).")]
DryOpt = Annotated[bool, typer.Option("--dry-run", help="Show the plan, write nothing, exit 0.")]
FormatOpt = Annotated[Format, typer.Option("--format", help="Plan output on stdout: text (on stderr) or json.")]


def load_project(spec: Path) -> tuple[Spec, Path, str]:
    """The spec's model, the project root (the spec's directory) and the spec's name relative to it."""
    root = spec.resolve().parent
    return load_spec(spec), root, Path(os.path.relpath(spec.resolve(), root)).as_posix()


@gen_app.command("slo")
def gen_slo(
    spec: SpecOpt = Path("parapet.yaml"),
    out: OutOpt = None,
    check: CheckOpt = False,
    diff: DiffOpt = False,
    force: ForceOpt = False,
    dry_run: DryOpt = False,
    fmt: FormatOpt = Format.text,
) -> None:
    """SLOs to multiwindow, multi-burn-rate recording and alerting rules, with promtool unit tests."""
    model, root, spec_name = load_project(spec)
    out_dir = out if out is not None else root / model.rules_dir
    files = slo_rules.generate(model, spec_name)
    out_key = Path(os.path.relpath(out_dir.resolve(), root)).as_posix()

    stamp = header(spec_name).encode()

    def owns(key: str) -> bool:
        # rule and test files generated from this same spec (their header names it) in this directory,
        # such as those of a renamed service; another spec's files in a shared directory are not ours
        parent, _, name = key.rpartition("/")
        if (parent or ".") != out_key or not name.endswith(SLO_SUFFIXES):
            return False
        try:
            with (root / key).open("rb") as handle:
                return handle.readline() == stamp
        except OSError:
            return True  # gone or unreadable: only its manifest entry is left to drop

    run_plan(files, out_dir, root, check=check, diff=diff, force=force, dry_run=dry_run, fmt=fmt, owns=owns)


@gen_app.command("dashboards")
def gen_dashboards(
    spec: SpecOpt = Path("parapet.yaml"),
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output directory (default: grafana/).")] = None,
    check: CheckOpt = False,
    diff: DiffOpt = False,
    force: ForceOpt = False,
    dry_run: DryOpt = False,
    fmt: FormatOpt = Format.text,
) -> None:
    """Grafana dashboards per service (overview and one per SLO) and their provisioning file."""
    from parapet_cli.generators import dashboards

    model, root, spec_name = load_project(spec)
    out_dir = out if out is not None else root / dashboards.DEFAULT_DIR
    files = dashboards.generate(model, spec_name)
    run_plan(files, out_dir, root, check=check, diff=diff, force=force, dry_run=dry_run, fmt=fmt)


def run_plan(
    files: list[PlannedFile],
    out_dir: Path,
    root: Path,
    *,
    check: bool,
    diff: bool,
    force: bool,
    dry_run: bool,
    fmt: Format,
    owns: Callable[[str], bool] | None = None,
) -> None:
    plan = build_plan(files, out_dir, root, force=force, owns=owns)
    patch = unified_diff(plan) if diff else ""
    if patch and fmt == Format.text:
        _render.text(patch.rstrip("\n"))
    if fmt == Format.text:
        _render.plan(plan, verb_prefix="(check) " if check else "(dry run) " if dry_run else "")
    if check or dry_run:
        if fmt == Format.json:
            _render.plan_json(plan, written=[], diff=patch if diff else None)
        if check and not plan.clean:
            _render.note("generated files are out of date: run the same command without --check")
            raise typer.Exit(EXIT_FINDINGS)
        return
    written = apply_plan(plan)
    if fmt == Format.json:
        _render.plan_json(plan, written=[e.key for e in written], diff=patch if diff else None)
    if plan.conflicts:
        names = ", ".join(e.key for e in plan.conflicts)
        raise WriteRefused(
            f"left {len(plan.conflicts)} file(s) edited by hand untouched: {names}",
            hint="move the edits into the spec and re-run with --force (the other files were written)",
        )


class SpineFor(StrEnum):
    alembic = "alembic"
    sql = "sql"
    django = "django"


@gen_app.command("spine")
def gen_spine(
    for_: Annotated[SpineFor, typer.Option("--for", help="How the host manages its schema.")] = SpineFor.alembic,
    alembic_ini: Annotated[Path, typer.Option("--alembic-ini", help="The host's Alembic configuration.")] = Path(
        "alembic.ini"
    ),
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Directory for --for sql (default: sql/).")] = None,
    check: CheckOpt = False,
    diff: DiffOpt = False,
    force: ForceOpt = False,
    dry_run: DryOpt = False,
    fmt: FormatOpt = Format.text,
) -> None:
    """The evidence spine's tables: an Alembic revision, plain SQL files, or the Django app's migrations."""
    from parapet_cli.generators import spine

    root = Path.cwd()
    files: list[PlannedFile] = []
    out_dir = out if out is not None else root / "sql"
    if for_ == SpineFor.alembic:
        target = spine.alembic_target(alembic_ini)
        root = alembic_ini.resolve().parent
        out_dir = target.versions_dir
        for version, path in sorted(target.existing_versions.items()):
            _render.note(f"{spine.REVISIONS[version][0]} is already in the Alembic history ({path}): left as is")
        files = spine.alembic_revisions(target)
        if not target.env_has_filter:
            _render.note(
                "add Parapet's filter to env.py, so autogenerate does not propose dropping its tables:\n"
                f"    {spine.INCLUDE_NAME_IMPORT}\n"
                "    context.configure(..., include_name=include_name)"
            )
    elif for_ == SpineFor.sql:
        files = spine.sql_files()
    else:
        _render.note(
            f"nothing to generate: add {spine.DJANGO_APP!r} to INSTALLED_APPS, then run `manage.py migrate parapet`"
        )
    run_plan(files, out_dir, root, check=check, diff=diff, force=force, dry_run=dry_run, fmt=fmt)
