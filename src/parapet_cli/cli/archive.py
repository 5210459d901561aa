"""``parapet archive``: archive resolved incidents past retention, delete them, prune system events (cron)."""

from __future__ import annotations

import json
import sys
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress

from parapet import conventions
from parapet.errors import ConfigError
from parapet.spec import Spec, load_spec
from parapet.spec.model import Retention
from parapet_cli.cli import _render

if TYPE_CHECKING:
    from parapet.evidence.archive import ArchiveOptionError, ArchiveResult

DEFAULT_SPEC = Path("parapet.yaml")


class Format(StrEnum):
    text = "text"
    json = "json"


def archive(
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            metavar="<duration>",
            help="Archive incidents resolved longer ago than this: 90d, 12h, 2w (default: the spec's "
            "retention.incidents, else 90d).",
        ),
    ] = None,
    archive_file: Annotated[
        Path | None,
        typer.Option(
            "--archive-file",
            metavar="<file>",
            help="JSON Lines file to append to (gzip when it ends in .gz). Required.",
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", metavar="<n>", help="Incidents per batch: written, fsynced, then deleted.")
    ] = conventions.ARCHIVE_BATCH_SIZE,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be archived; write and delete nothing.")
    ] = False,
    events_older_than: Annotated[
        str | None,
        typer.Option(
            "--events-older-than",
            metavar="<duration>",
            help="Delete system events (deploys, flag changes) older than this (default: the spec's "
            "retention.system_events, else 7d).",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            metavar="<url>",
            envvar=conventions.DATABASE_URL_ENV,
            show_envvar=True,
            help="The store (default: the spec's database.url, else sqlite:///.parapet/parapet.db). "
            "Prefer the environment variable for secrets.",
        ),
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec",
            "-s",
            metavar="<file>",
            help="The spec whose retention: and database: apply (default: parapet.yaml, if it exists).",
            envvar="PARAPET_SPEC",
        ),
    ] = None,
    fmt: Annotated[
        Format, typer.Option("--format", help="Summary on stdout: text, or one line of JSON.")
    ] = Format.text,
) -> None:
    """Archive resolved incidents to JSON Lines, then delete them; prune old system events.

    Safe to run from cron: an overlapping run exits 0 without doing anything, and a run killed at any moment
    loses nothing (a batch is deleted only after the archive file holding it was fsynced).
    """
    # SQLAlchemy and the store load only when archive runs: every other command starts faster without them.
    from parapet.evidence.archive import ArchiveOptionError, ArchiveOptions, run_archive
    from parapet.evidence.db import create_engine_for, mask_url, resolve_url

    incidents_after = _duration(older_than, "--older-than")
    events_after = _duration(events_older_than, "--events-older-than")
    # The spec is read only when it supplies something the command line did not (or was named).
    needed = spec is not None or any(v is None for v in (incidents_after, events_after, database_url))
    model = _load_spec(spec) if needed else None
    retention = model.retention if model is not None else Retention()
    if database_url is None and model is not None and model.database is not None:
        database_url = model.database.url
    options = ArchiveOptions(
        older_than=incidents_after if incidents_after is not None else retention.incidents,
        archive_file=archive_file,
        batch_size=batch_size,
        dry_run=dry_run,
        events_older_than=events_after if events_after is not None else retention.system_events,
    )
    url = resolve_url(database_url, Path.cwd())
    engine = create_engine_for(url)
    try:
        with _progress() as bar:
            try:
                result = run_archive(engine, options, progress=bar)
            except ArchiveOptionError as exc:
                raise _flagged(exc) from None
    finally:
        engine.dispose()
    if not result.locked:
        _render.note("another `parapet archive` run holds the lock: nothing done")
    if fmt == Format.json:
        body = {"database": mask_url(engine.url), **result.summary()}
        sys.stdout.write(json.dumps(body, sort_keys=True) + "\n")
    elif result.locked:
        _render.text(_summary_text(result))


def _load_spec(path: Path | None) -> Spec | None:
    """The named spec (an error if it is missing or invalid), else ./parapet.yaml if there is one."""
    if path is None:
        path = DEFAULT_SPEC
        if not path.is_file():
            return None
    return load_spec(path)


def _summary_text(result: ArchiveResult) -> str:
    verb = "would archive" if result.dry_run else "archived"
    line = (
        f"{verb} {result.archived} incident(s) resolved before {result.cutoff} in {result.batches} batch(es), "
        f"{result.bytes} bytes, {result.seconds:.2f}s"
    )
    if result.skipped:
        line += f"; {result.skipped} changed meanwhile and were kept"
    line += f"; {'would prune' if result.dry_run else 'pruned'} {result.events_pruned} system event(s)"
    line += f", {result.deliveries_pruned} webhook deliveries and {result.jobs_pruned} done job(s)"
    return line


class _Bar:
    """Rich progress on stderr, for people (only when stderr is a terminal)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("archiving", total=None)

    def __call__(self, done: int, total: int) -> None:
        self.progress.update(self.task, completed=done, total=total)


def _progress() -> AbstractContextManager[_Bar | None]:
    if not _render.stderr.is_terminal:
        return nullcontext(None)
    progress = _render.progress_bar()

    class _Ctx(AbstractContextManager[_Bar | None]):
        def __enter__(self) -> _Bar:
            progress.start()
            return _Bar(progress)

        def __exit__(self, *_exc: object) -> None:
            progress.stop()

    return _Ctx()


# The archive's options and the flags that set them: the runtime names an option, the command its flag.
_FLAGS = {"batch_size": "--batch-size", "archive_file": "--archive-file"}
_FLAG_HINTS = {"archive_file": "pass --archive-file PATH (JSON Lines; gzip when it ends in .gz), or --dry-run"}


def _duration(value: str | None, flag: str) -> timedelta | None:
    from parapet.spec.durations import DurationError, parse_retention

    if value is None:
        return None
    try:
        return parse_retention(value)
    except DurationError as exc:
        raise ConfigError(f"{flag} {exc.message}", hint=exc.hint) from None


def _flagged(exc: ArchiveOptionError) -> ConfigError:
    flag = _FLAGS.get(exc.option, exc.option)
    return ConfigError(f"{flag} {exc.problem}", hint=_FLAG_HINTS.get(exc.option, exc.hint))
