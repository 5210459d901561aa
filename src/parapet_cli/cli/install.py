"""``parapet install``: wire Parapet into a host repository through one plan."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from parapet_cli.cli import _render
from parapet_cli.cli._plan import SHOWN, Show, finish, planning, resolve

if TYPE_CHECKING:
    from parapet_cli.install import InstallPlan

HostArg = Annotated[Path, typer.Argument(metavar="PATH", help="The host repository (default: the current directory).")]
EjectOpt = Annotated[
    bool,
    typer.Option("--eject", help="With ui: copy the operator UI's templates into templates/parapet/ to edit them."),
]


@planning
def install(
    path: HostArg = Path(),
    show_plan: Annotated[
        bool, typer.Option("--plan", help="Print what was detected and what would be written, and why; write nothing.")
    ] = False,
    with_: Annotated[
        list[str] | None,
        typer.Option(
            "--with",
            metavar="<extra>",
            help="Also install an extra: alertmanager, compose, k8s, ui (repeat it, or separate with commas).",
        ),
    ] = None,
    eject: EjectOpt = False,
    force: bool = False,
    show: Show = SHOWN,
) -> None:
    """Detect the host, then write parapet.yaml (if absent), the spine, rules, dashboards and wiring."""
    from parapet_cli.install import plan_install
    from parapet_cli.install.extras import parse_extras

    root = resolve(path, "the host repository")
    result = plan_install(root, force=force, extras=parse_extras(with_ or ()), eject=eject)
    show_install_plan(result, show_plan, show)


def show_install_plan(result: InstallPlan, show_plan: bool, show: Show) -> None:
    """``--plan``, or check / diff / apply the plan (``install`` and ``gen ui``)."""
    combined = result.combined
    if show_plan:
        for what, found in result.detection.lines():
            _render.note(f"{what:>17}: {found}")
        for entry in combined.entries:
            _render.note(f"{entry.action.value:>17} {_render.shown(entry)}  ({entry.file.generator})")
        for note in result.notes:
            _render.note(note)
        return
    finish(
        combined,
        show,
        notes=result.notes,
        stale="the installation is out of date: run parapet install without --check",
    )
