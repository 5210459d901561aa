"""What ``gen`` and ``install`` share: the project root, the plan options, and the tail that shows, checks or
applies a plan (``--check``, ``--dry-run``, ``--diff``, ``--format json``, conflicts).

The project root is where the manifest lives (``.parapet/manifest.json``) and what its keys are relative to:
``--root`` when given; otherwise the spec's directory when the spec lies in the current directory or below it
(``parapet gen slo --spec services/api/parapet.yaml`` works on ``services/api/``), else the current directory (a
spec kept elsewhere never makes Parapet write next to it). A command writes only under the project root and
``--out``, and prints paths relative to the current directory.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from parapet.errors import EXIT_FINDINGS, ConfigError, WriteRefused
from parapet_cli.cli import _render
from parapet_cli.plan import Plan, apply_plan, unified_diff


class Format(StrEnum):
    text = "text"
    json = "json"


RootOpt = Annotated[
    Path | None,
    typer.Option(
        "--root",
        "-C",
        metavar="<dir>",
        help="The project root: the manifest and the default output directories live under it (default: the "
        "spec's directory when it is in the current directory, else the current directory).",
    ),
]
CheckOpt = Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 if any file would change.")]
DiffOpt = Annotated[bool, typer.Option("--diff", help="Print a unified diff of what would change.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite files edited by hand (conflicts).")]
DryOpt = Annotated[bool, typer.Option("--dry-run", help="Show the plan, write nothing, exit 0.")]
FormatOpt = Annotated[
    Format,
    typer.Option("--format", help="The plan as text (on stderr) or as JSON (on stdout)."),
]


@dataclass(frozen=True)
class Show:
    """How to show, check or apply a plan: the options every planning command takes."""

    check: bool = False
    diff: bool = False
    dry_run: bool = False
    fmt: Format = Format.text


SHOWN = Show()  # the default: show the plan as text, then apply it

_OPTIONS = (
    ("check", CheckOpt, False),
    ("diff", DiffOpt, False),
    ("force", ForceOpt, False),
    ("dry_run", DryOpt, False),
    ("fmt", FormatOpt, Format.text),
)


def planning(func: Callable[..., None]) -> Callable[..., None]:
    """Give a command the options every planning command takes (--check, --diff, --force, --dry-run, --format),
    declared once here: ``func`` declares ``force: bool`` and ``show: Show`` last and receives them filled."""
    signature = inspect.signature(func, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name not in ("force", "show")]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, annotation, default in _OPTIONS
    ]

    @functools.wraps(func)
    def command(**values: Any) -> None:
        show = Show(values.pop("check"), values.pop("diff"), values.pop("dry_run"), values.pop("fmt"))
        func(**values, show=show)

    parameters = [*own, *added]
    command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    return command


def resolve(path: Path, what: str) -> Path:
    """``path`` made absolute with its links resolved, or a one-line error for a link that loops."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop (Python before 3.13)
        raise ConfigError(
            f"cannot use {path} as {what}: a symbolic link on the way loops", hint="remove the loop"
        ) from None


def project_root(root: Path | None, anchor: Path | None) -> Path:
    """``--root``, else ``anchor``'s directory (the spec, alembic.ini) when it is under the current directory,
    else the current directory."""
    if root is not None:
        found = resolve(root, "the project root")
        if not found.is_dir():
            raise ConfigError(
                f"the project root {root} is not a directory", hint="pass an existing directory to --root"
            )
        return found
    here = Path.cwd()
    if anchor is None:
        return here
    parent = resolve(anchor, "the spec").parent
    return parent if parent == here or here in parent.parents else here


def relative_name(path: Path, root: Path) -> str:
    """``path`` relative to ``root``, POSIX style (with ``..`` when it lies outside)."""
    return Path(os.path.relpath(resolve(path, "a path"), root)).as_posix()


def inside(directory: Path, root: Path, what: str) -> Path:
    """``directory`` when it is ``root`` or below it; an error otherwise (nothing is written outside the root
    unless ``--out`` says so)."""
    found = resolve(directory, what)
    if found != root and root not in found.parents:
        raise ConfigError(
            f"{what} {directory} is outside the project root {root}",
            hint="keep it under the project root, or pass --out (or --root) explicitly",
        )
    return directory


def finish(plan: Plan, show: Show, *, notes: list[str] | tuple[str, ...] = (), stale: str) -> None:
    """Show the plan; for --check or --dry-run stop there (exit 1 when --check finds drift), else apply it and
    refuse (exit 3) when files edited by hand were left untouched. ``stale`` tells how to bring it up to date."""
    patch = unified_diff(plan) if show.diff else ""
    if patch and show.fmt == Format.text:
        _render.text(patch.rstrip("\n"))
    if show.fmt == Format.text:
        _render.plan(plan, verb_prefix="(check) " if show.check else "(dry run) " if show.dry_run else "")
    for note in notes:
        _render.note(note)
    if show.check or show.dry_run:
        if show.fmt == Format.json:
            _render.plan_json(plan, written=[], diff=patch if show.diff else None)
        if show.check and not plan.clean:
            _render.note(stale)
            raise typer.Exit(EXIT_FINDINGS)
        return
    written = apply_plan(plan)
    if show.fmt == Format.json:
        _render.plan_json(plan, written=written, diff=patch if show.diff else None)
    if plan.conflicts:
        names = ", ".join(_render.shown(e) for e in plan.conflicts)
        raise WriteRefused(
            f"left {len(plan.conflicts)} file(s) edited by hand untouched: {names}",
            hint="move the edits into the spec and re-run with --force (the other files were written)",
        )
