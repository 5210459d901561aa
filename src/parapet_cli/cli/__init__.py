"""The ``parapet`` command. Commands are thin: parse options, call one core function, render."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from parapet import __version__
from parapet.errors import EXIT_USAGE, UserError
from parapet_cli.cli import _render
from parapet_cli.cli.archive import archive
from parapet_cli.cli.doctor import doctor
from parapet_cli.cli.gen import gen_app
from parapet_cli.cli.install import install

app = typer.Typer(
    name="parapet",
    help="Reliability toolkit for Python web services: SLO rules, checks and more from parapet.yaml.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)
app.add_typer(gen_app, name="gen")
app.command("doctor")(doctor)
app.command("archive")(archive)
app.command("install")(install)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"parapet {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Parapet: from one parapet.yaml to rules, dashboards, checks and an incident loop."""


def run(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit code (``main`` exits with it).

    Click's standalone mode renders usage errors (exit 2); a UserError raised by a command is
    rendered here as ``error:`` and ``hint:`` lines, without a traceback.
    """
    try:
        app(args=argv, prog_name="parapet")
    except UserError as exc:
        _render.error(exc)
        return exc.exit_code
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        return code if isinstance(code, int) else EXIT_USAGE
    return 0


def main() -> None:
    sys.exit(run())
