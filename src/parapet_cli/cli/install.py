"""``parapet install``: wire Parapet into a host repository through one plan."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from parapet.errors import EXIT_FINDINGS, WriteRefused
from parapet_cli.cli import _render
from parapet_cli.cli.gen import CheckOpt, DiffOpt, DryOpt, ForceOpt, Format, FormatOpt
from parapet_cli.plan import unified_diff


def install(
    path: Annotated[Path, typer.Argument(help="The host repository (default: the current directory).")] = Path(),
    show_plan: Annotated[
        bool, typer.Option("--plan", help="Print what was detected and what would be written, and why; write nothing.")
    ] = False,
    check: CheckOpt = False,
    diff: DiffOpt = False,
    force: ForceOpt = False,
    dry_run: DryOpt = False,
    fmt: FormatOpt = Format.text,
    with_: Annotated[
        list[str] | None,
        typer.Option(
            "--with",
            metavar="EXTRA",
            help="Also install an extra: alertmanager, compose, k8s, ui (repeat it, or separate with commas).",
        ),
    ] = None,
) -> None:
    """Detect the host, then write parapet.yaml (if absent), the spine, rules, dashboards and wiring."""
    from parapet_cli.install import apply_install, plan_install
    from parapet_cli.install.extras import parse_extras

    root = path.resolve()
    result = plan_install(root, force=force, extras=parse_extras(with_ or ()))
    combined = result.combined
    if show_plan:
        for what, found in result.detection.lines():
            _render.note(f"{what:>17}: {found}")
        for entry in combined.entries:
            _render.note(f"{entry.action.value:>17} {entry.key}  ({entry.file.generator})")
        for note in result.notes:
            _render.note(note)
        return
    if diff:
        patch = unified_diff(combined)
        if patch:
            _render.text(patch.rstrip("\n"))
    prefix = "(check) " if check else "(dry run) " if dry_run else ""
    if fmt == Format.text:
        _render.plan(combined, verb_prefix=prefix)
    for note in result.notes:
        _render.note(note)
    if check or dry_run:
        if fmt == Format.json:
            _render.plan_json(combined, written=[])
        if check and not combined.clean:
            _render.note("the installation is out of date: run parapet install without --check")
            raise typer.Exit(EXIT_FINDINGS)
        return
    written = apply_install(result)
    if fmt == Format.json:
        _render.plan_json(combined, written=[e.key for e in written])
    if combined.conflicts:
        names = ", ".join(e.key for e in combined.conflicts)
        raise WriteRefused(
            f"left {len(combined.conflicts)} file(s) edited by hand untouched: {names}",
            hint="move the edits into the spec and re-run with --force (the other files were written)",
        )
