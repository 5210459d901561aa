"""``parapet users``: the users file of ``parapet serve`` (``name role argon2-hash`` per line, mode 0600).

parapet users add NAME --role responder [--users-file .parapet/users]   password prompted twice
echo "$PW" | parapet users add NAME --role admin --password-stdin       for scripts
parapet users list [--users-file …]                                       names and roles, never hashes
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from parapet.errors import ConfigError
from parapet_cli.cli import _render
from parapet_cli.cli._help import Command

DEFAULT_USERS_FILE = Path(".parapet") / "users"
MIN_PASSWORD = 12

users_app = typer.Typer(help="Manage the users of `parapet serve` (argon2-hashed, in a file).", no_args_is_help=True)

UsersFileOption = Annotated[
    Path,
    typer.Option("--users-file", metavar="<file>", help="The users file (created 0600 if missing)."),
]


@users_app.command("add", cls=Command)
def add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The user's name (no spaces; not system:…).")],
    role: Annotated[
        str, typer.Option("--role", metavar="<viewer|responder|admin>", help="The user's role.")
    ] = "responder",
    users_file: UsersFileOption = DEFAULT_USERS_FILE,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
) -> None:
    """Add a user, or replace their role and password."""
    from parapet.web.identity import Role, add_user, check_new_user

    try:
        chosen = Role(role)
    except ValueError:
        raise ConfigError(f"unknown role {role!r}", hint="use viewer, responder or admin") from None
    check_new_user(users_file, name)  # a broken file or name fails before the password is asked for
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD:
        raise ConfigError(
            f"the password is {len(password)} characters long", hint=f"use at least {MIN_PASSWORD} characters"
        )
    replaced = add_user(users_file, name, chosen, password)
    _render.note(f"{'updated' if replaced else 'added'} {name} ({chosen.value}) in {users_file}")


@users_app.command("list", cls=Command)
def list_users(users_file: UsersFileOption = DEFAULT_USERS_FILE) -> None:
    """List the users and their roles (never the hashes)."""
    from parapet.web.identity import UsersFile

    for record in UsersFile(users_file).users().values():
        _render.text(f"{record.name} {record.role.value}")
