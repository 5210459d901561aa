"""``parapet mark``: record a change in the incident store, for CI pipelines and release scripts.

parapet mark deploy --service shop --version 1.4.2 [--actor ci] [--url https://ci/run/81]
parapet mark flag --flag new-checkout [--flag …] [--provider flagd] [--service shop]

The change becomes a system event (``parapet.changes``): incidents that open within ``changes.window`` after
it list it as a suspect change, MCP's ``list_changes`` returns it and the dashboards annotate it. The store
is the one ``parapet archive`` uses: ``--database-url``, else the spec's ``database.url``, else the default.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from parapet.errors import ConfigError
from parapet_cli.cli import _render
from parapet_cli.cli._help import Command
from parapet_cli.cli._plan import Format
from parapet_cli.cli.archive import _load_spec
from parapet_cli.cli.serve import DatabaseOption, SpecOption

if TYPE_CHECKING:
    from parapet.changes import ChangeError
    from parapet.evidence.store import Store

mark_app = typer.Typer(
    help="Record a deploy or a feature-flag change (suspect changes on incidents, dashboard annotations).",
    no_args_is_help=True,
)


ActorOption = Annotated[
    str | None, typer.Option("--actor", metavar="<name>", help="Who made the change (a person, or the pipeline).")
]
FormatOption = Annotated[Format, typer.Option("--format", help="On stdout: a line of text, or one line of JSON.")]


@mark_app.command("deploy", cls=Command)
def deploy(
    service: Annotated[str, typer.Option("--service", metavar="<name>", help="The service deployed.")],
    version: Annotated[str, typer.Option("--version", metavar="<version>", help="The version (tag, commit).")],
    actor: ActorOption = None,
    url: Annotated[
        str | None, typer.Option("--url", metavar="<url>", help="The pipeline run or release page (http or https).")
    ] = None,
    database_url: DatabaseOption = None,
    spec: SpecOption = None,
    fmt: FormatOption = Format.text,
) -> None:
    """Record a deploy of SERVICE at VERSION (now)."""
    from parapet.changes import DEPLOY, record_deploy

    ident = _record(
        database_url, spec, lambda store: record_deploy(store, service=service, version=version, actor=actor, url=url)
    )
    _done(fmt, DEPLOY, ident, f"recorded the deploy of {service} {version} (event {ident})")


@mark_app.command("flag", cls=Command)
def flag(
    flags: Annotated[list[str], typer.Option("--flag", metavar="<key>", help="A changed flag's key; repeat for more.")],
    provider: Annotated[
        str | None, typer.Option("--provider", metavar="<name>", help="The flag provider (flagd, LaunchDarkly…).")
    ] = None,
    service: Annotated[
        str | None,
        typer.Option("--service", metavar="<name>", help="The service the flags belong to (default: every service)."),
    ] = None,
    actor: ActorOption = None,
    database_url: DatabaseOption = None,
    spec: SpecOption = None,
    fmt: FormatOption = Format.text,
) -> None:
    """Record a feature-flag change (now)."""
    from parapet.changes import FLAG_CHANGE, record_flag_change

    ident = _record(
        database_url,
        spec,
        lambda store: record_flag_change(store, flags=flags, provider=provider, service=service, actor=actor),
    )
    _done(fmt, FLAG_CHANGE, ident, f"recorded the change of {', '.join(flags)} (event {ident})")


def _record(database_url: str | None, spec: Path | None, record: Callable[[Store], int]) -> int:
    """Run ``record`` on the store; a refused change is a ConfigError naming the flag."""
    from parapet.changes import ChangeError

    with _store(database_url, spec) as store:
        try:
            return record(store)
        except ChangeError as exc:
            raise _flagged(exc) from None


class _store:  # lower case: it reads as the context manager it is
    """The store of ``--database-url`` / the spec, its schema checked, disposed of on exit."""

    def __init__(self, database_url: str | None, spec: Path | None) -> None:
        self.database_url = database_url
        self.spec = spec

    def __enter__(self) -> Store:
        from parapet.evidence.db import check_schema, create_engine_for, resolve_url
        from parapet.evidence.store import Store

        url = self.database_url
        if url is None:
            model = _load_spec(self.spec)
            if model is not None and model.database is not None:
                url = model.database.url
        elif self.spec is not None:
            _load_spec(self.spec)  # a named spec must still be valid
        self.engine = create_engine_for(resolve_url(url, Path.cwd()))
        try:
            check_schema(self.engine)
        except BaseException:
            self.engine.dispose()
            raise
        return Store(self.engine)

    def __exit__(self, *_exc: object) -> None:
        self.engine.dispose()


_FIELDS = ("service", "version", "actor", "url", "provider")


def _flagged(exc: ChangeError) -> ConfigError:
    """The runtime names the field; here it is the flag of the same name."""
    word = exc.message.split(" ", 1)[0]
    message = f"--{exc.message}" if word in _FIELDS else exc.message
    return ConfigError(message, hint=exc.hint)


def _done(fmt: Format, kind: str, ident: int, text: str) -> None:
    if fmt == Format.json:
        sys.stdout.write(json.dumps({"id": ident, "kind": kind}, sort_keys=True) + "\n")
    else:
        _render.text(text)
