"""``parapet gen …``: one command per target of ``generators.targets.TARGETS``, then ``gen spine`` (it follows the
host's schema tool) and ``gen ui`` (it follows the host's app); every one goes through the plan/apply layer and
the shared tail of ``cli/_plan.py``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from parapet.spec import load_spec
from parapet_cli.cli import _render
from parapet_cli.cli._help import Command
from parapet_cli.cli._plan import (
    SHOWN,
    RootOpt,
    Show,
    finish,
    inside,
    planning,
    project_root,
    relative_name,
    resolve,
)
from parapet_cli.cli.install import EjectOpt, HostArg
from parapet_cli.generators import PlannedFile, header
from parapet_cli.generators.targets import TARGETS, Target
from parapet_cli.plan import build_plan

gen_app = typer.Typer(help="Generate files from the spec.", no_args_is_help=True, rich_markup_mode=None)

STALE = "generated files are out of date: run the same command without --check"

SpecOpt = Annotated[
    Path,
    typer.Option(
        "--spec",
        "-s",
        metavar="<file>",
        help="The spec: parapet.yaml, a Sloth prometheus/v1 file or OpenSLO openslo/v1 documents.",
        envvar="PARAPET_SPEC",
    ),
]


def generate(
    target: Target,
    spec: Path,
    *,
    out: Path | None,
    root: Path | None,
    force: bool,
    show: Show,
) -> None:
    """Plan ``target``'s files from ``spec`` (into ``out``, else its directory under the project root), then
    show, check or apply the plan."""
    project = project_root(root, spec)
    spec_name = relative_name(spec, project)
    model = load_spec(spec)
    if out is None:
        out_dir = inside(project / target.directory(model), project, f"{target.name}'s output directory")
    else:
        resolve(out, "--out")  # a link that loops is refused here, once
        out_dir = out
    files = target.generate(model, spec_name)
    owns = _owner(target, out_dir, project, header(spec_name).encode()) if target.prunes else None
    finish(build_plan(files, out_dir, project, force=force, owns=owns), show, stale=STALE)


def _owner(target: Target, out_dir: Path, root: Path, stamp: bytes):  # type: ignore[no-untyped-def]
    out_key = relative_name(out_dir, root)

    def owns(key: str) -> bool:
        # files of this target generated from this same spec (their header names it) in this directory, such as
        # those of a renamed service; another spec's files in a shared directory are not ours
        parent, _, name = key.rpartition("/")
        if (parent or ".") != out_key or not name.endswith(target.prunes):
            return False
        try:
            with (root / key).open("rb") as handle:
                return handle.readline() == stamp
        except OSError:
            return True  # gone or unreadable: only its manifest entry is left to drop

    return owns


def _command(target: Target) -> None:
    def command(
        spec: SpecOpt = Path("parapet.yaml"),
        out: Path | None = None,  # its annotation, which names the target's default, is set below
        root: RootOpt = None,
        force: bool = False,
        show: Show = SHOWN,
    ) -> None:
        generate(target, spec, out=out, root=root, force=force, show=show)

    command.__annotations__["out"] = Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="<dir>", help=f"Output directory (default: {target.out_help})."),
    ]
    command.__doc__ = target.help
    command.__name__ = f"gen_{target.name}"
    gen_app.command(target.name, cls=Command)(planning(command))


for _target in TARGETS:
    _command(_target)


class SpineFor(StrEnum):
    alembic = "alembic"
    sql = "sql"
    django = "django"


@gen_app.command("spine", cls=Command)
@planning
def gen_spine(
    for_: Annotated[SpineFor, typer.Option("--for", help="How the host manages its schema.")] = SpineFor.alembic,
    alembic_ini: Annotated[
        Path, typer.Option("--alembic-ini", metavar="<file>", help="The host's Alembic configuration.")
    ] = Path("alembic.ini"),
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="<dir>", help="Directory for --for sql (default: sql/).")
    ] = None,
    root: RootOpt = None,
    force: bool = False,
    show: Show = SHOWN,
) -> None:
    """The evidence spine's tables: an Alembic revision, plain SQL files, or the Django app's migrations."""
    from parapet_cli.generators import spine

    files: list[PlannedFile] = []
    notes: list[str] = []
    project = project_root(root, alembic_ini if for_ == SpineFor.alembic else None)
    out_dir = project / "sql" if out is None else out
    if out is not None:
        resolve(out, "--out")
    if for_ == SpineFor.alembic:
        target = spine.alembic_target(alembic_ini)
        out_dir = target.versions_dir
        for version, path in sorted(target.existing_versions.items()):
            notes.append(f"{spine.REVISIONS[version][0]} is already in the Alembic history ({path}): left as is")
        files = spine.alembic_revisions(target)
        if not target.env_has_filter:
            notes.append(
                "add Parapet's filter to env.py, so autogenerate does not propose dropping its tables:\n"
                f"    {spine.INCLUDE_NAME_IMPORT}\n"
                "    context.configure(..., include_name=include_name)"
            )
    elif for_ == SpineFor.sql:
        files = spine.sql_files()
    else:
        notes.append(
            f"nothing to generate: add {spine.DJANGO_APP!r} to INSTALLED_APPS, then run `manage.py migrate parapet`"
        )
    for note in notes:
        _render.note(note)
    finish(build_plan(files, out_dir, project, force=force), show, stale=STALE)


@gen_app.command("ui", cls=Command)
@planning
def gen_ui(path: HostArg = Path(), eject: EjectOpt = False, force: bool = False, show: Show = SHOWN) -> None:
    """Mount Parapet's web app (webhook, operator UI) at /parapet in the host's app; --eject its templates."""
    from parapet_cli.cli.install import show_install_plan
    from parapet_cli.install import plan_ui

    result = plan_ui(resolve(path, "the host repository"), force=force, eject=eject)
    show_install_plan(result, False, show)
