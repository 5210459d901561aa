"""The ``parapet`` command. Commands are thin: parse options, call one core function, render."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from parapet import __version__
from parapet.errors import EXIT_USAGE, UserError
from parapet_cli.cli import _render
from parapet_cli.cli.gen import gen_app

app = typer.Typer(
    name="parapet",
    help="Reliability toolkit for Python web services: SLO rules, checks and more from parapet.yaml.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)
app.add_typer(gen_app, name="gen")


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


def main() -> None:
    try:
        app(standalone_mode=False)
    except UserError as exc:
        _render.error(exc)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _render.note("aborted")
        sys.exit(1)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code if exc.exit_code else EXIT_USAGE)
        raise
