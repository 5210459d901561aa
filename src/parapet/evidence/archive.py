"""Archive resolved incidents past their retention, then delete them; prune old system events.

The order of a run, and why nothing is lost when it is killed at any moment:

1. Take the archive lock: ``pg_try_advisory_lock`` on PostgreSQL (keyed on the schema), an exclusive
   ``flock`` on ``<database>.archive-lock`` on SQLite. A second, overlapping run gets ``locked=False``
   and does nothing.
2. Check the spine's tables exist and open the archive file (append), before anything is deleted. A
   torn tail left by a killed run (a partial line, a partial gzip member) is cut off first: a batch is
   only deleted after its bytes were fsynced, so a torn batch is still in the database.
3. Select resolved incidents by *resolution* time, a batch at a time, keyset-paged on (resolved_at, id).
4. Write each incident with its timeline, tool audits, action claims and alert instances as one JSON line
   (a batch is one gzip member when the file name ends in ``.gz``), then fsync the file. On PostgreSQL the
   server renders the lines, one statement per batch (see ``postgres_batch_sql``).
5. Delete the batch in one short transaction that re-checks state, resolution time and version: an
   incident reopened, noted or otherwise changed since it was read is left alone (counted as skipped,
   and archived again by a later run). Children go with their incident (ON DELETE CASCADE). On
   PostgreSQL the delete of one batch overlaps the reading and writing of the next.
6. Delete system events older than their retention, in short batches, and the webhook delivery log
   (``parapet_webhook_deliveries``, kept for audit and replay) and the work engine's done jobs
   (``parapet_jobs``: pending, running and dead jobs are never pruned) with the same retention.

An incident can therefore appear in archives more than once (a skipped one, or a batch written before a
kill); readers keep the last line per incident id. ``read_archive`` reads a file, torn tail included.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Final

from sqlalchemy import JSON, Engine, Row, Table, delete, func, literal, select, text, tuple_
from sqlalchemy.engine import Connection

from parapet import conventions
from parapet.errors import ConfigError, WriteRefused
from parapet.evidence.db import check_schema
from parapet.evidence.schema import (
    JOB_DONE,
    STATE_RESOLVED,
    UTCDateTime,
    action_claims,
    alert_instances,
    incident_links,
    incidents,
    jobs,
    system_events,
    timeline_entries,
    tool_audits,
    webhook_deliveries,
)
from parapet.evidence.store import utcnow
from parapet.spec.durations import DurationError, parse_retention

ARCHIVE_FORMAT: Final = "parapet.evidence/v1"
DEFAULT_OLDER_THAN: Final = timedelta(days=90)
DEFAULT_EVENTS_OLDER_THAN: Final = timedelta(days=7)
DEFAULT_BATCH_SIZE: Final = conventions.ARCHIVE_BATCH_SIZE
MAX_BATCH_SIZE: Final = 5000
# gzip level of the archive file: 3 compresses about twice as fast as the default 6, for files ~15% larger.
GZIP_LEVEL: Final = 3

# The document's child lists, and the tables they come from.
_CHILDREN: Final = (
    ("timeline", timeline_entries),
    ("tool_audits", tool_audits),
    ("action_claims", action_claims),
    ("alert_instances", alert_instances),
)


def _child_order(table: Table) -> tuple[Any, ...]:
    """Children are listed by time, then id."""
    when = {
        timeline_entries: "at",
        tool_audits: "started_at",
        action_claims: "claimed_at",
        alert_instances: "starts_at",
    }
    return (table.c[when[table]], table.c.id)


class BadDuration(ConfigError):
    """A retention does not parse (``parse_duration``)."""


class ArchiveOptionError(ConfigError):
    """An ``ArchiveOptions`` field cannot be used; ``option`` names the field (the CLI names its flag)."""

    def __init__(self, option: str, problem: str, *, hint: str) -> None:
        super().__init__(f"{option} {problem}", hint=hint)
        self.option = option
        self.problem = problem


class ArchiveFileError(WriteRefused):
    """The archive file cannot be written; nothing was deleted."""


def parse_duration(value: str) -> timedelta:
    """A retention: ``90d``, ``12h``, ``30m``, ``45s``, ``2w`` (``parapet.spec.durations``); zero is refused."""
    try:
        return parse_retention(value)
    except DurationError as exc:
        raise BadDuration(exc.message, hint=exc.hint) from None


@dataclass(frozen=True)
class ArchiveOptions:
    older_than: timedelta = DEFAULT_OLDER_THAN
    archive_file: Path | None = None  # required unless dry_run
    batch_size: int = DEFAULT_BATCH_SIZE
    dry_run: bool = False
    events_older_than: timedelta = DEFAULT_EVENTS_OLDER_THAN


@dataclass
class ArchiveResult:
    archived: int = 0  # deleted from the database and present in the archive (dry run: would be)
    batches: int = 0
    bytes: int = 0  # written to the archive file (dry run: the uncompressed size it would take)
    seconds: float = 0.0
    skipped: int = 0  # written to the archive but not deleted: changed since it was read
    events_pruned: int = 0  # system events deleted (dry run: would be)
    deliveries_pruned: int = 0  # webhook deliveries deleted, same retention as system events (dry run: would be)
    jobs_pruned: int = 0  # done jobs of the work engine deleted, same retention (dry run: would be)
    longest_delete_ms: float = 0.0
    dry_run: bool = False
    locked: bool = True  # False: another run holds the lock, nothing was done
    cutoff: str = ""
    archive_file: str | None = None
    candidates: int = field(default=0, repr=False)

    def summary(self) -> dict[str, Any]:
        body = asdict(self)
        body.pop("candidates")
        body["seconds"] = round(self.seconds, 3)
        body["longest_delete_ms"] = round(self.longest_delete_ms, 3)
        return body


Progress = Callable[[int, int], None]  # (done, total)


def run_archive(
    engine: Engine,
    options: ArchiveOptions,
    *,
    clock: Callable[[], datetime] = utcnow,
    progress: Progress | None = None,
) -> ArchiveResult:
    """Archive and delete resolved incidents older than ``options.older_than``; see the module docstring."""
    if not 1 <= options.batch_size <= MAX_BATCH_SIZE:
        raise ArchiveOptionError(
            "batch_size",
            f"{options.batch_size} is out of range",
            hint=f"use 1 to {MAX_BATCH_SIZE} (default {DEFAULT_BATCH_SIZE})",
        )
    if options.archive_file is None and not options.dry_run:
        raise ArchiveOptionError(
            "archive_file",
            "is not set: resolved incidents are only deleted after they were written to an archive file",
            hint="name an archive file (JSON Lines; gzip when it ends in .gz), or make it a dry run",
        )
    started = time.monotonic()
    now = clock()
    result = ArchiveResult(dry_run=options.dry_run, cutoff=(now - options.older_than).isoformat())
    result.archive_file = str(options.archive_file) if options.archive_file else None
    check_schema(engine)
    if options.dry_run:
        _dry_run(engine, now - options.older_than, now - options.events_older_than, options, result, progress)
    else:
        assert options.archive_file is not None
        with archive_lock(engine) as held:
            if not held:
                result.locked = False
                result.seconds = time.monotonic() - started
                return result
            with ArchiveWriter(options.archive_file) as writer:
                _run(engine, now - options.older_than, options.batch_size, writer, result, progress)
            result.events_pruned = prune_system_events(engine, now - options.events_older_than, options.batch_size)
            result.deliveries_pruned = prune_deliveries(engine, now - options.events_older_than, options.batch_size)
            result.jobs_pruned = prune_done_jobs(engine, now - options.events_older_than, options.batch_size)
    result.seconds = time.monotonic() - started
    return result


def _candidates(cutoff: datetime) -> Any:
    return (incidents.c.state == STATE_RESOLVED, incidents.c.resolved_at < cutoff)


def _count(engine: Engine, cutoff: datetime) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(incidents).where(*_candidates(cutoff))).scalar_one())


def selection_query(cutoff: datetime, after: tuple[datetime, int] | None, limit: int) -> Any:
    """The archive selection (exposed so tests can EXPLAIN it): one batch of whole incident rows,
    keyset-paged after ``after`` on (resolved_at, id), the order of ``ix_parapet_incidents_archive``."""
    query = select(incidents).where(*_candidates(cutoff))
    if after is not None:
        key = (incidents.c.resolved_at, incidents.c.id)
        query = query.where(tuple_(*key) > tuple_(*(literal(v, type_=c.type) for v, c in zip(after, key, strict=True))))
    return query.order_by(incidents.c.resolved_at, incidents.c.id).limit(limit)


@dataclass
class _Batch:
    lines: list[bytes]  # one archive line per incident, in keyset order
    versions: dict[int, int]  # id -> the version the line holds
    last: tuple[datetime, int]  # (resolved_at, id) of the last incident: the keyset for the next batch


def _batches(engine: Engine, cutoff: datetime, batch_size: int) -> Iterator[_Batch]:
    """The candidates, a batch at a time, each incident already encoded as its archive line."""
    after: tuple[datetime, int] | None = None
    read = _read_postgres if engine.dialect.name == "postgresql" else _read_generic
    while True:
        with engine.connect() as conn:
            batch = read(conn, cutoff, after, batch_size)
        if batch is None:
            return
        after = batch.last
        yield batch


def _read_generic(conn: Connection, cutoff: datetime, after: tuple[datetime, int] | None, limit: int) -> _Batch | None:
    rows = conn.execute(selection_query(cutoff, after, limit)).all()
    if not rows:
        return None
    docs, versions = _documents(conn, rows)
    return _Batch([encode_line(d) for d in docs], versions, (rows[-1].resolved_at, rows[-1].id))


def _documents(conn: Connection, rows: Sequence[Row[Any]]) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """Documents for incident rows, with their children (read after the incidents)."""
    docs: dict[int, dict[str, Any]] = {}
    versions: dict[int, int] = {}
    for row in rows:
        versions[row.id] = row.version
        docs[row.id] = {
            "format": ARCHIVE_FORMAT,
            "incident": dict(row._mapping),
            "timeline": [],
            "tool_audits": [],
            "action_claims": [],
            "alert_instances": [],
        }
    for key, table in _CHILDREN:
        query = select(table).where(table.c.incident_id.in_(list(docs))).order_by(*_child_order(table))
        for child in conn.execute(query):
            docs[child.incident_id][key].append(dict(child._mapping))
    return list(docs.values()), versions


def load_documents(conn: Connection, ids: list[int]) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """Each incident with its children, and the version each was read at (read before the children)."""
    return _documents(
        conn, conn.execute(select(incidents).where(incidents.c.id.in_(ids)).order_by(incidents.c.id)).all()
    )


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot archive a {type(value).__name__}")


def encode_line(doc: dict[str, Any]) -> bytes:
    return (
        json.dumps(doc, default=_json_default, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    ).encode("utf-8")


# -- PostgreSQL: the server writes the lines ------------------------------------------------------------
#
# Reading rows into Python objects and encoding them again costs far more than the database's work. On
# PostgreSQL one statement per batch selects the incidents (keyset, ``ix_parapet_incidents_archive``) and
# renders each as its archive line, children included (correlated aggregates over their incident
# indexes), all from one snapshot. The line has the keys, order and values ``encode_line`` writes:
# keys sorted, no spaces, strings escaped by ``to_json``, timestamps as ``datetime.isoformat`` renders
# UTC. Only a JSON column's own value (labels, annotations, data, parameters) is PostgreSQL's rendering
# of it (``{"k": "v"}``, keys in jsonb's order), which parses to the same object.

_ISO_UTC: Final = (
    "to_char({c} AT TIME ZONE 'UTC', CASE WHEN date_trunc('second', {c} AT TIME ZONE 'UTC') = {c} AT TIME ZONE 'UTC' "
    """THEN 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"' END)"""
)


def _json_object_sql(table: Table, alias: str) -> str:
    """SQL rendering a row of ``table`` as a compact JSON object with sorted keys."""
    parts = []
    for column in sorted(table.c, key=lambda c: c.name):
        ref = f'{alias}."{column.name}"'
        if isinstance(column.type, UTCDateTime):
            value = f"to_json({_ISO_UTC.format(c=ref)})::text"
        elif isinstance(column.type, JSON):
            value = f"{ref}::text"
        else:
            value = f"to_json({ref})::text"
        parts.append(f"""'"{column.name}":' || COALESCE({value}, 'null')""")
    return "'{' || " + " || ',' || ".join(parts) + " || '}'"


def _children_sql(table: Table) -> str:
    order = ", ".join(f'c."{c.name}"' for c in _child_order(table))
    return (
        f"COALESCE((SELECT string_agg({_json_object_sql(table, 'c')}, ',' ORDER BY {order}) "
        f"FROM {table.name} AS c WHERE c.incident_id = i.id), '')"
    )


def postgres_batch_sql(*, keyset: bool) -> str:
    """The statement that reads one batch on PostgreSQL (exposed so tests can EXPLAIN it): id, version,
    resolved_at and the archive line (without its newline) of each incident, parameters ``cutoff``,
    ``limit`` and, with ``keyset``, ``after_at`` and ``after_id``."""
    pieces = {key: _children_sql(table) for key, table in _CHILDREN}
    line = (
        f"""'{{"action_claims":[' || {pieces["action_claims"]} || """
        f"""'],"alert_instances":[' || {pieces["alert_instances"]} || """
        f"""'],"format":{json.dumps(ARCHIVE_FORMAT)},"incident":' || {_json_object_sql(incidents, "i")} || """
        f"""',"timeline":[' || {pieces["timeline"]} || '],"tool_audits":[' || {pieces["tool_audits"]} || ']}}'"""
    )
    after = " AND (i.resolved_at, i.id) > (%(after_at)s, %(after_id)s)" if keyset else ""
    return (
        f"SELECT i.id, i.version, i.resolved_at, {line} AS line FROM {incidents.name} AS i "
        f"WHERE i.state = '{STATE_RESOLVED}' AND i.resolved_at < %(cutoff)s{after} "
        "ORDER BY i.resolved_at, i.id LIMIT %(limit)s"
    )


_PG_FIRST: Final = postgres_batch_sql(keyset=False)
_PG_NEXT: Final = postgres_batch_sql(keyset=True)


def _read_postgres(conn: Connection, cutoff: datetime, after: tuple[datetime, int] | None, limit: int) -> _Batch | None:
    params: dict[str, Any] = {"cutoff": cutoff, "limit": limit}
    if after is not None:
        params.update(after_at=after[0], after_id=after[1])
    rows = conn.exec_driver_sql(_PG_FIRST if after is None else _PG_NEXT, params).all()
    if not rows:
        return None
    return _Batch(
        [(row[3] + "\n").encode("utf-8") for row in rows],
        {int(row[0]): int(row[1]) for row in rows},
        (rows[-1][2], int(rows[-1][0])),
    )


def _run(
    engine: Engine,
    cutoff: datetime,
    batch_size: int,
    writer: ArchiveWriter,
    result: ArchiveResult,
    progress: Progress | None,
) -> None:
    """Read, write and fsync each batch, then delete it.

    On PostgreSQL a batch's delete runs on a second connection (one thread) while the next batch is read
    and written, so the server deletes while it renders the next lines. A delete still starts only after
    its own batch was fsynced, and only one runs at a time. SQLite does it all in turn (a second
    connection would only wait for the first, and an in-memory database is private to its connection).
    """
    result.candidates = total = _count(engine, cutoff)
    done = 0
    if progress:
        progress(0, total)

    def delete(versions: dict[int, int]) -> tuple[int, int, float]:
        t0 = time.perf_counter()
        with engine.begin() as conn:
            deleted = len(delete_batch(conn, cutoff, versions))
        return deleted, len(versions), (time.perf_counter() - t0) * 1000

    def account(outcome: tuple[int, int, float]) -> None:
        nonlocal done
        deleted, read, millis = outcome
        result.longest_delete_ms = max(result.longest_delete_ms, millis)
        result.archived += deleted
        result.skipped += read - deleted
        done += read
        if progress:
            progress(min(done, total), total)

    with contextlib.ExitStack() as stack:
        # Leaving the block (also on an error) waits for a delete in flight, so the lock outlives it.
        pool = None
        if engine.dialect.name == "postgresql":
            pool = stack.enter_context(ThreadPoolExecutor(1, "parapet-archive-delete"))
        pending: Future[tuple[int, int, float]] | None = None
        for batch in _batches(engine, cutoff, batch_size):
            result.bytes += writer.write_batch(batch.lines)
            result.batches += 1
            # Only now, with the batch on disk, may it leave the database; one delete at a time.
            if pending is not None:
                account(pending.result())
                pending = None
            if pool is not None:
                pending = pool.submit(delete, batch.versions)
            else:
                account(delete(batch.versions))
        if pending is not None:
            account(pending.result())


def _dry_run(
    engine: Engine,
    cutoff: datetime,
    events_cutoff: datetime,
    options: ArchiveOptions,
    result: ArchiveResult,
    progress: Progress | None,
) -> None:
    result.candidates = total = _count(engine, cutoff)
    if progress:
        progress(0, total)
    for batch in _batches(engine, cutoff, options.batch_size):
        result.bytes += sum(len(line) for line in batch.lines)
        result.batches += 1
        result.archived += len(batch.lines)
        if progress:
            progress(result.archived, total)
    with engine.connect() as conn:
        result.events_pruned = int(
            conn.execute(
                select(func.count()).select_from(system_events).where(system_events.c.occurred_at < events_cutoff)
            ).scalar_one()
        )
        result.deliveries_pruned = int(
            conn.execute(
                select(func.count())
                .select_from(webhook_deliveries)
                .where(webhook_deliveries.c.received_at < events_cutoff)
            ).scalar_one()
        )
        result.jobs_pruned = int(
            conn.execute(select(func.count()).select_from(jobs).where(*_done_jobs(events_cutoff))).scalar_one()
        )


def delete_batch(conn: Connection, cutoff: datetime, versions: dict[int, int]) -> list[int]:
    """Delete the incidents still resolved before ``cutoff`` at the version that was archived."""
    if not versions:
        return []
    pairs = sorted(versions.items())
    if conn.dialect.name == "postgresql":
        # The ids as one array, probed through the primary key (``id = ANY``: without it the planner may
        # hash-join the arrays against every resolved incident, a scan of the table per batch), then
        # joined with the versions (a row-value IN list would plan as a long OR).
        statement = text(
            f"DELETE FROM {incidents.name} AS i USING unnest(CAST(:ids AS bigint[]), CAST(:versions AS integer[])) "
            "AS v(id, version) WHERE i.id = ANY(CAST(:ids AS bigint[])) AND i.id = v.id AND i.version = v.version "
            "AND i.state = :state AND i.resolved_at < :cutoff RETURNING i.id"
        )
        params = {
            "ids": [i for i, _ in pairs],
            "versions": [v for _, v in pairs],
            "state": STATE_RESOLVED,
            "cutoff": cutoff,
        }
        return [int(i) for i in conn.execute(statement, params).scalars()]
    deleted = [
        int(i)
        for i in conn.execute(
            delete(incidents)
            .where(tuple_(incidents.c.id, incidents.c.version).in_(pairs), *_candidates(cutoff))
            .returning(incidents.c.id)
        ).scalars()
    ]
    if deleted:
        # ON DELETE CASCADE removed the children already; this covers a SQLite connection opened without
        # PRAGMA foreign_keys (by a host's own engine), where the cascade does not fire.
        for child in (tool_audits, action_claims, timeline_entries, alert_instances, incident_links):
            conn.execute(delete(child).where(child.c.incident_id.in_(deleted)))
        conn.execute(delete(incident_links).where(incident_links.c.earlier_incident_id.in_(deleted)))
    return deleted


def prune_system_events(engine: Engine, cutoff: datetime, batch_size: int) -> int:
    """Delete system events that occurred before ``cutoff``, ``batch_size`` at a time."""
    return _prune(engine, system_events, system_events.c.occurred_at, cutoff, batch_size)


def prune_deliveries(engine: Engine, cutoff: datetime, batch_size: int) -> int:
    """Delete webhook deliveries received before ``cutoff``, ``batch_size`` at a time."""
    return _prune(engine, webhook_deliveries, webhook_deliveries.c.received_at, cutoff, batch_size)


def _done_jobs(cutoff: datetime) -> tuple[Any, ...]:
    # due_at first: the jobs' due index (state, due_at, id) finds them; a job finishes after it was due
    return (jobs.c.state == JOB_DONE, jobs.c.due_at < cutoff, jobs.c.finished_at < cutoff)


def prune_done_jobs(engine: Engine, cutoff: datetime, batch_size: int) -> int:
    """Delete the work engine's done jobs that finished before ``cutoff`` (never pending, running or dead ones)."""
    return _prune(engine, jobs, None, cutoff, batch_size, where=_done_jobs(cutoff))


def _prune(
    engine: Engine, table: Table, when: Any, cutoff: datetime, batch_size: int, *, where: tuple[Any, ...] = ()
) -> int:
    pruned = 0
    conditions = where or (when < cutoff,)
    while True:
        with engine.begin() as conn:
            ids = select(table.c.id).where(*conditions).limit(batch_size)
            count = conn.execute(delete(table).where(table.c.id.in_(ids))).rowcount
        pruned += count
        if count < batch_size:
            return pruned


# -- the lock -----------------------------------------------------------------------------------------


def lock_key(schema: str) -> int:
    """The advisory-lock key: stable, 64-bit, and different per schema (several apps, one database)."""
    digest = hashlib.sha256(f"parapet.archive:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def archive_lock(engine: Engine) -> Iterator[bool]:
    """Yield True while this process holds the archive lock, False if another run holds it."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            key = lock_key(str(schema))
            held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one())
            conn.commit()
            try:
                yield held
            finally:
                if held:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield True  # a private in-memory database: no other process can see it
        return
    import fcntl

    lock_path = Path(f"{database}.archive-lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise WriteRefused(
            f"cannot create the archive lock file {lock_path}: {exc.strerror}",
            hint="make the database's directory writable; nothing was deleted",
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# -- the archive file ---------------------------------------------------------------------------------


_CHUNK: Final = 1 << 20


def _complete_gzip_length(handle: BinaryIO) -> int:
    """The length of the file's prefix made of complete gzip members (read from the start, in chunks)."""
    handle.seek(0)
    good = offset = 0
    pending = b""
    decomp: Any = None
    while True:
        if not pending:
            pending = handle.read(_CHUNK)
            if not pending:
                return good
        if decomp is None:
            decomp = zlib.decompressobj(wbits=31)
        try:
            decomp.decompress(pending, _CHUNK)
        except zlib.error:
            return good
        if decomp.eof:
            offset += len(pending) - len(decomp.unused_data)
            good = offset
            pending = decomp.unused_data
            decomp = None
        else:
            offset += len(pending) - len(decomp.unconsumed_tail)
            pending = decomp.unconsumed_tail


def _complete_lines_length(handle: BinaryIO) -> int:
    """The length of the file's prefix that ends with a newline (scanned backwards from the end)."""
    end = handle.seek(0, os.SEEK_END)
    while end > 0:
        start = max(0, end - _CHUNK)
        handle.seek(start)
        chunk = handle.read(end - start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


def complete_length(handle: BinaryIO, *, gzipped: bool) -> int:
    return _complete_gzip_length(handle) if gzipped else _complete_lines_length(handle)


class _Prefix(io.RawIOBase):
    """The first ``limit`` bytes of a file, as a readable stream."""

    def __init__(self, handle: BinaryIO, limit: int) -> None:
        self._handle = handle
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        size = min(len(view), self._left)
        if size <= 0:
            return 0
        data = self._handle.read(size)
        view[: len(data)] = data
        self._left -= len(data)
        return len(data)


class ArchiveWriter:
    """Append-only archive file: each batch is written whole, then fsynced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.gzip = path.name.endswith(".gz")
        self._fd: int | None = None

    def __enter__(self) -> ArchiveWriter:
        self.open()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _refuse(self, exc: OSError) -> ArchiveFileError:
        return ArchiveFileError(
            f"cannot write the archive file {self.path}: {exc.strerror or exc}",
            hint="choose a writable archive file (its directory is created if missing); nothing was deleted",
        )

    def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
        except OSError as exc:
            raise self._refuse(exc) from None
        try:
            self._repair_tail(fd)
            if created:
                dir_fd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        except OSError as exc:
            os.close(fd)
            raise self._refuse(exc) from None
        self._fd = fd

    def _repair_tail(self, fd: int) -> None:
        size = os.fstat(fd).st_size
        if size == 0:
            return
        with os.fdopen(os.dup(fd), "rb") as handle:
            good = complete_length(handle, gzipped=self.gzip)
        if good < size:
            os.ftruncate(fd, good)
            os.fsync(fd)

    def write_batch(self, lines: list[bytes]) -> int:
        """Write the lines (one gzip member when gzipped), fsync, and return the bytes written."""
        assert self._fd is not None, "open the writer first"
        payload = b"".join(lines)
        if self.gzip:
            payload = gzip.compress(payload, compresslevel=GZIP_LEVEL, mtime=0)
        view = memoryview(payload)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
        except OSError as exc:
            raise self._refuse(exc) from None
        return len(payload)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_archive(path: Path | str) -> Iterator[dict[str, Any]]:
    """Every incident archived in the file, once each, in file order; a torn tail (killed writer) is ignored.

    An incident can stand in a file more than once: archived again after a run was killed between the
    fsync of its batch and the delete, or after it changed while it was being archived (skipped). The
    last line of an incident id is its latest state, and the one read. The file is read twice (the first
    pass keeps only each id's last line number), so memory grows with the number of incidents, not with
    the file's size.
    """
    path = Path(path)
    last: dict[Any, int] = {}
    for number, line in enumerate(_archive_lines(path)):
        last[json.loads(line)["incident"]["id"]] = number
    for number, line in enumerate(_archive_lines(path)):
        document = json.loads(line)
        if last.get(document["incident"]["id"]) == number:
            yield document


def _archive_lines(path: Path) -> Iterator[bytes]:
    """The file's non-blank lines up to its last complete one (or gzip member)."""
    gzipped = path.name.endswith(".gz")
    with path.open("rb") as handle:
        good = complete_length(handle, gzipped=gzipped)
        handle.seek(0)
        prefix = io.BufferedReader(_Prefix(handle, good))
        stream: io.BufferedIOBase = gzip.GzipFile(fileobj=prefix, mode="rb") if gzipped else prefix
        with stream:
            for line in stream:
                if line.strip():
                    yield line
