"""Archive resolved incidents past their retention, then delete them; prune old system events.

The order of a run, and why nothing is lost when it is killed at any moment:

1. Take the archive lock: ``pg_try_advisory_lock`` on PostgreSQL (keyed on the schema), an exclusive
   ``flock`` on ``<database>.archive-lock`` on SQLite. A second, overlapping run gets ``locked=False``
   and does nothing.
2. Check the spine's tables exist and open the archive file (append), before anything is deleted. A
   torn tail left by a killed run (a partial line, a partial gzip member) is cut off first: a batch is
   only deleted after its bytes were fsynced, so a torn batch is still in the database.
3. Select resolved incidents by *resolution* time, a batch at a time, keyset-paged on (resolved_at, id).
4. Write each incident with its timeline, tool audits and action claims as one JSON line (a batch is one
   gzip member when the file name ends in ``.gz``), then fsync the file.
5. Delete the batch in one short transaction that re-checks state, resolution time and version: an
   incident reopened, noted or otherwise changed since it was read is left alone (counted as skipped,
   and archived again by a later run). Children go with their incident (ON DELETE CASCADE).
6. Delete system events older than their retention, in short batches.

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
import re
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Final

from sqlalchemy import Engine, delete, func, select, text, tuple_
from sqlalchemy.engine import Connection

from parapet.errors import ConfigError, WriteRefused
from parapet.evidence.db import check_schema
from parapet.evidence.schema import (
    STATE_RESOLVED,
    action_claims,
    incidents,
    system_events,
    timeline_entries,
    tool_audits,
)
from parapet.evidence.store import utcnow

ARCHIVE_FORMAT: Final = "parapet.evidence/v1"
DEFAULT_OLDER_THAN: Final = timedelta(days=90)
DEFAULT_EVENTS_OLDER_THAN: Final = timedelta(days=7)
DEFAULT_BATCH_SIZE: Final = 500
MAX_BATCH_SIZE: Final = 5000

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class BadDuration(ConfigError):
    """A retention such as ``--older-than`` does not parse."""


class ArchiveFileError(WriteRefused):
    """The archive file cannot be written; nothing was deleted."""


def parse_duration(value: str, *, option: str = "--older-than") -> timedelta:
    """``90d``, ``12h``, ``30m``, ``45s``, ``2w`` -> timedelta; zero and anything else are refused."""
    match = _DURATION.match(value)
    amount = int(match[1]) if match else 0
    if match is None or amount <= 0:
        raise BadDuration(
            f"{option} {value!r} is not a duration",
            hint="use a positive whole number and a unit: 90d, 12h, 30m, 45s or 2w",
        )
    return timedelta(**{_UNITS[match[2]]: amount})


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
        raise ConfigError(
            f"--batch-size {options.batch_size} is out of range", hint=f"use 1 to {MAX_BATCH_SIZE} (default 500)"
        )
    if options.archive_file is None and not options.dry_run:
        raise ConfigError(
            "no archive file: resolved incidents are only deleted after they were written to one",
            hint="pass --archive-file PATH (JSON Lines; gzip when it ends in .gz), or --dry-run",
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
    result.seconds = time.monotonic() - started
    return result


def _candidates(cutoff: datetime) -> Any:
    return (incidents.c.state == STATE_RESOLVED, incidents.c.resolved_at < cutoff)


def _count(engine: Engine, cutoff: datetime) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(incidents).where(*_candidates(cutoff))).scalar_one())


def selection_query(cutoff: datetime, after: tuple[datetime, int] | None, limit: int) -> Any:
    """The archive selection (exposed so tests can EXPLAIN it): one batch, keyset after ``after``."""
    query = select(incidents.c.id, incidents.c.version, incidents.c.resolved_at).where(*_candidates(cutoff))
    if after is not None:
        query = query.where(tuple_(incidents.c.resolved_at, incidents.c.id) > tuple_(*after))
    return query.order_by(incidents.c.resolved_at, incidents.c.id).limit(limit)


def _batches(engine: Engine, cutoff: datetime, batch_size: int) -> Iterator[list[tuple[int, int]]]:
    after: tuple[datetime, int] | None = None
    while True:
        with engine.connect() as conn:
            rows = conn.execute(selection_query(cutoff, after, batch_size)).all()
        if not rows:
            return
        after = (rows[-1].resolved_at, rows[-1].id)
        yield [(r.id, r.version) for r in rows]


def _run(
    engine: Engine,
    cutoff: datetime,
    batch_size: int,
    writer: ArchiveWriter,
    result: ArchiveResult,
    progress: Progress | None,
) -> None:
    result.candidates = total = _count(engine, cutoff)
    done = 0
    if progress:
        progress(0, total)
    for batch in _batches(engine, cutoff, batch_size):
        with engine.connect() as conn:
            docs, versions = load_documents(conn, [i for i, _ in batch])
        result.bytes += writer.write_batch([encode_line(d) for d in docs])
        # Only now, with the batch on disk, may it leave the database.
        t0 = time.perf_counter()
        with engine.begin() as conn:
            deleted = delete_batch(conn, cutoff, versions)
        result.longest_delete_ms = max(result.longest_delete_ms, (time.perf_counter() - t0) * 1000)
        result.batches += 1
        result.archived += len(deleted)
        result.skipped += len(batch) - len(deleted)
        done += len(batch)
        if progress:
            progress(min(done, total), total)


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
        with engine.connect() as conn:
            docs, _ = load_documents(conn, [i for i, _ in batch])
        result.bytes += sum(len(encode_line(d)) for d in docs)
        result.batches += 1
        result.archived += len(batch)
        if progress:
            progress(result.archived, total)
    with engine.connect() as conn:
        result.events_pruned = int(
            conn.execute(
                select(func.count()).select_from(system_events).where(system_events.c.occurred_at < events_cutoff)
            ).scalar_one()
        )


def delete_batch(conn: Connection, cutoff: datetime, versions: dict[int, int]) -> list[int]:
    """Delete the incidents still resolved before ``cutoff`` at the version that was archived."""
    if not versions:
        return []
    pairs = sorted(versions.items())
    if conn.dialect.name == "postgresql":
        # A join on two arrays: one index probe per id (a row-value IN list plans as a long OR).
        statement = text(
            "DELETE FROM parapet_incidents AS i USING unnest(CAST(:ids AS bigint[]), CAST(:versions AS integer[])) "
            "AS v(id, version) WHERE i.id = v.id AND i.version = v.version "
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
        for child in (tool_audits, action_claims, timeline_entries):
            conn.execute(delete(child).where(child.c.incident_id.in_(deleted)))
    return deleted


def load_documents(conn: Connection, ids: list[int]) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """Each incident with its children, and the version each was read at (read before the children)."""
    rows = conn.execute(select(incidents).where(incidents.c.id.in_(ids)).order_by(incidents.c.id)).all()
    docs: dict[int, dict[str, Any]] = {}
    versions: dict[int, int] = {}
    for row in rows:
        data = dict(row._mapping)
        versions[row.id] = row.version
        docs[row.id] = {
            "format": ARCHIVE_FORMAT,
            "incident": data,
            "timeline": [],
            "tool_audits": [],
            "action_claims": [],
        }
    for key, table, order in (
        ("timeline", timeline_entries, (timeline_entries.c.at, timeline_entries.c.id)),
        ("tool_audits", tool_audits, (tool_audits.c.started_at, tool_audits.c.id)),
        ("action_claims", action_claims, (action_claims.c.claimed_at, action_claims.c.id)),
    ):
        for child in conn.execute(select(table).where(table.c.incident_id.in_(list(docs))).order_by(*order)):
            docs[child.incident_id][key].append(dict(child._mapping))
    return list(docs.values()), versions


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot archive a {type(value).__name__}")


def encode_line(doc: dict[str, Any]) -> bytes:
    return (
        json.dumps(doc, default=_json_default, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    ).encode("utf-8")


def prune_system_events(engine: Engine, cutoff: datetime, batch_size: int) -> int:
    """Delete system events that occurred before ``cutoff``, ``batch_size`` at a time."""
    pruned = 0
    while True:
        with engine.begin() as conn:
            ids = select(system_events.c.id).where(system_events.c.occurred_at < cutoff).limit(batch_size)
            count = conn.execute(delete(system_events).where(system_events.c.id.in_(ids))).rowcount
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
            hint="choose a writable --archive-file (its directory is created if missing); nothing was deleted",
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
            payload = gzip.compress(payload, compresslevel=6, mtime=0)
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


def read_archive(path: Path) -> Iterator[dict[str, Any]]:
    """Every archived document in the file, in order; a torn tail (killed writer) is ignored."""
    gzipped = path.name.endswith(".gz")
    with path.open("rb") as handle:
        good = complete_length(handle, gzipped=gzipped)
        handle.seek(0)
        prefix = io.BufferedReader(_Prefix(handle, good))
        stream: io.BufferedIOBase = gzip.GzipFile(fileobj=prefix, mode="rb") if gzipped else prefix
        with stream:
            for line in stream:
                if line.strip():
                    yield json.loads(line)
