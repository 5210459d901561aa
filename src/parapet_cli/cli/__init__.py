"""The ``parapet`` command. Commands are thin: parse options, call one core function, render.

``COMMANDS`` is the one list of commands, in the order ``parapet --help`` shows them: the order a user meets
them (install, gen, doctor, then the runtime commands: serve, worker, mcp, users; mark for CI, then archive for
cron). A new command is one line there.

Exit codes (``parapet.errors``): 0 done, 1 findings or drift (``--check``), 2 usage, 3 invalid input or a
refused write, 70 an internal error (a bug: one ``error: internal error in …`` line, the traceback only with
``PARAPET_DEBUG=1``). No other traceback reaches a terminal.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Callable
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from parapet import __version__
from parapet.errors import EXIT_INTERNAL, EXIT_USAGE, UserError
from parapet_cli.cli import _render
from parapet_cli.cli._help import Command
from parapet_cli.cli.archive import archive
from parapet_cli.cli.doctor import doctor
from parapet_cli.cli.gen import gen_app
from parapet_cli.cli.install import install
from parapet_cli.cli.mark import mark_app
from parapet_cli.cli.serve import mcp, serve, worker
from parapet_cli.cli.users import users_app

DEBUG_ENV = "PARAPET_DEBUG"

# (name, command): a function becomes a command, a Typer app a group of commands. Keep the user's order.
COMMANDS: tuple[tuple[str, Callable[..., Any] | typer.Typer], ...] = (
    ("install", install),
    ("gen", gen_app),
    ("doctor", doctor),
    ("serve", serve),
    ("worker", worker),
    ("mcp", mcp),
    ("users", users_app),
    ("mark", mark_app),
    ("archive", archive),
)


class _Ordered(TyperGroup):
    """Lists commands in ``COMMANDS`` order (Typer would list plain commands before groups)."""

    def list_commands(self, ctx: Any) -> list[str]:
        order = {name: i for i, (name, _) in enumerate(COMMANDS)}
        return sorted(self.commands, key=lambda name: (order.get(name, len(order)), name))


app = typer.Typer(
    name="parapet",
    cls=_Ordered,
    help="Reliability toolkit for Python web services: SLO rules, checks and more from parapet.yaml.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
for _name, _command in COMMANDS:
    if isinstance(_command, typer.Typer):
        app.add_typer(_command, name=_name)
    else:
        app.command(_name, cls=Command)(_command)


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
    rendered here as ``error:`` and ``hint:`` lines, without a traceback. Any other exception is a bug:
    one ``error: internal error in …`` line and a hint, exit 70; ``PARAPET_DEBUG=1`` adds the traceback.
    """
    args = sys.argv[1:] if argv is None else argv
    try:
        app(args=args, prog_name="parapet")
    except UserError as exc:
        _render.error(exc)
        return exc.exit_code
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        return code if isinstance(code, int) else EXIT_USAGE
    except Exception as exc:
        return internal_error(exc, command_name(args))
    return 0


def internal_error(exc: BaseException, command: str) -> int:
    """Render an unexpected exception as one line (and the traceback when ``PARAPET_DEBUG`` is set)."""
    debug = os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")
    if debug:
        # the plain traceback (never Rich's, which prints local variables that may hold secrets)
        sys.stderr.write("".join(traceback.format_exception(exc)))
    _render.problem(
        f"internal error in {command}: {type(exc).__name__}: {_one_line(exc)}",
        hint=None
        if debug
        else f"this is a bug in parapet; rerun with {DEBUG_ENV}=1 to see the traceback, and report it with that",
    )
    return EXIT_INTERNAL


_USERINFO = re.compile(r"(://[^/\s:@]*:)[^@\s/]*@")


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """The message on one bounded line, with any password in a URL masked."""
    text = " ".join(str(exc).split()) or "(no message)"
    text = _USERINFO.sub(r"\1***@", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def command_name(argv: list[str]) -> str:
    """``parapet gen slo`` for ``["gen", "slo", "--spec", …]``: the command words argv names."""
    words = ["parapet"]
    commands: dict[str, Any] = getattr(typer.main.get_command(app), "commands", {})
    for arg in argv:
        if arg.startswith("-"):
            continue  # the root and gen groups take flags only, so a word after an option is a command
        if arg not in commands:
            break
        words.append(arg)
        commands = getattr(commands[arg], "commands", {})  # a group's subcommands; a command has none
    return " ".join(words)


def main() -> None:
    sys.exit(run())
