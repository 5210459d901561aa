"""``parapet archive``: archive resolved incidents past retention, delete them, prune system events (cron)."""

from __future__ import annotations

import json
import sys
from contextlib import AbstractContextManager, nullcontext
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from parapet.evidence.archive import (
    DEFAULT_BATCH_SIZE,
    ArchiveOptions,
    ArchiveResult,
    parse_duration,
    run_archive,
)
from parapet.evidence.db import ENV_URL, create_engine_for, mask_url, resolve_url
from parapet_cli.cli import _render


class Format(StrEnum):
    text = "text"
    json = "json"


def archive(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Archive incidents resolved longer ago than this: 90d, 12h, 2w.")
    ] = "90d",
    archive_file: Annotated[
        Path | None,
        typer.Option("--archive-file", help="JSON Lines file to append to (gzip when it ends in .gz). Required."),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Incidents per batch: written, fsynced, then deleted.")
    ] = DEFAULT_BATCH_SIZE,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be archived; write and delete nothing.")
    ] = False,
    events_older_than: Annotated[
        str, typer.Option("--events-older-than", help="Delete system events (deploys, flag changes) older than this.")
    ] = "7d",
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar=ENV_URL,
            show_envvar=True,
            help="The store (default: sqlite:///.parapet/parapet.db). Prefer the environment variable for secrets.",
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
    options = ArchiveOptions(
        older_than=parse_duration(older_than),
        archive_file=archive_file,
        batch_size=batch_size,
        dry_run=dry_run,
        events_older_than=parse_duration(events_older_than, option="--events-older-than"),
    )
    url = resolve_url(database_url, Path.cwd())
    engine = create_engine_for(url)
    try:
        with _progress() as bar:
            result = run_archive(engine, options, progress=bar)
    finally:
        engine.dispose()
    if not result.locked:
        _render.note("another `parapet archive` run holds the lock: nothing done")
    if fmt == Format.json:
        body = {"database": mask_url(engine.url), **result.summary()}
        sys.stdout.write(json.dumps(body, sort_keys=True) + "\n")
    elif result.locked:
        _render.text(_summary_text(result))


def _summary_text(result: ArchiveResult) -> str:
    verb = "would archive" if result.dry_run else "archived"
    line = (
        f"{verb} {result.archived} incident(s) resolved before {result.cutoff} in {result.batches} batch(es), "
        f"{result.bytes} bytes, {result.seconds:.2f}s"
    )
    if result.skipped:
        line += f"; {result.skipped} changed meanwhile and were kept"
    line += f"; {'would prune' if result.dry_run else 'pruned'} {result.events_pruned} system event(s)"
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
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_render.stderr,
        transient=True,
    )

    class _Ctx(AbstractContextManager[_Bar | None]):
        def __enter__(self) -> _Bar:
            progress.start()
            return _Bar(progress)

        def __exit__(self, *_exc: object) -> None:
            progress.stop()

    return _Ctx()
