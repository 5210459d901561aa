"""Jobs: the outbox side (``enqueue``, ``cancel``), the handler and periodic registries, and the dead letters.

A job is one row of ``parapet_jobs``, unique on (kind, key):

    pending ──claim──▶ running ──ctx.complete / handler returns──▶ done
       ▲                  │ raise Retry(after)         (its attempt given back, due later)
       └──────────────────┤ any other exception        (attempts counted, due after the backoff)
                          └ attempts == max_attempts ──▶ dead ──revive (admin)──▶ pending

``enqueue`` runs in the caller's transaction: the job commits with the state change that causes it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from parapet.evidence.schema import JOB_DEAD, JOB_DONE, JOB_PENDING, JOB_RUNNING, jobs

if TYPE_CHECKING:
    from parapet.work.worker import JobContext

log = logging.getLogger("parapet.work")

DEFAULT_LEASE: Final = timedelta(seconds=30)
DEFAULT_MAX_ATTEMPTS: Final = 10
ERROR_LIMIT: Final = 2_000  # characters of an error kept in last_error


class Retry(Exception):
    """Raised by a handler: run again ``after`` from now, without counting a failed attempt (a rate limit, a
    dependency not ready yet)."""

    def __init__(self, after: timedelta = timedelta(seconds=5), reason: str = "") -> None:
        super().__init__(reason or f"retry in {after.total_seconds():g}s")
        self.after = after
        self.reason = reason


class LeaseLost(Exception):
    """``ctx.complete`` found the job no longer held by this attempt (its lease expired and another process
    took it over, or it was cancelled): the handler's transaction rolls back, so its writes never commit twice."""


@dataclass(frozen=True)
class Job:
    """One claimed job, as its handler sees it (``attempts`` counts this one: 1 on the first run)."""

    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int
    due_at: datetime
    created_at: datetime
    max_attempts: int = DEFAULT_MAX_ATTEMPTS


Backoff = Callable[[int], timedelta]


def exponential(base: timedelta = timedelta(seconds=2), cap: timedelta = timedelta(minutes=5)) -> Backoff:
    """The delay after the n-th failed attempt: base, 2 x base, 4 x base, ... at most ``cap``."""

    def delay(attempt: int) -> timedelta:
        grown: timedelta = base * (2 ** min(max(attempt - 1, 0), 30))
        return min(cap, grown)

    return delay


HandlerFn = Callable[["JobContext"], Mapping[str, Any] | None]


@dataclass(frozen=True)
class Handler:
    kind: str
    fn: HandlerFn
    lease: timedelta
    backoff: Backoff


@dataclass(frozen=True)
class Periodic:
    """A recurring job: each slot of ``every`` is the job ``kind``/``f"{name}@{slot}"`` (slot: epoch seconds of its
    start), run when ``when(worker)`` holds (None: always; ``worker.settings`` is the spec)."""

    name: str
    every: timedelta
    kind: str
    when: Callable[[Any], bool] | None = None
    max_attempts: int = 3

    def slot(self, now: datetime) -> int:
        step = max(1, int(self.every.total_seconds()))
        return int(now.timestamp()) // step * step

    def key(self, slot: int) -> str:
        return f"{self.name}@{slot}"


_lock = threading.Lock()
HANDLERS: dict[str, Handler] = {}
PERIODICS: dict[str, Periodic] = {}


def handler(
    kind: str, *, lease: timedelta = DEFAULT_LEASE, backoff: Backoff | None = None
) -> Callable[[HandlerFn], HandlerFn]:
    """Register the decorated function as the handler of job ``kind`` (a later registration of the same kind
    replaces it: a module imported twice, a test)."""
    if not 0 < len(kind) <= jobs.c.kind.type.length:  # type: ignore[attr-defined]
        raise ValueError(f"bad job kind {kind!r}")

    def register(fn: HandlerFn) -> HandlerFn:
        with _lock:
            HANDLERS[kind] = Handler(kind, fn, lease, backoff or exponential())
        return fn

    return register


def periodic(
    name: str,
    *,
    every: timedelta,
    kind: str | None = None,
    when: Callable[[Any], bool] | None = None,
    lease: timedelta = DEFAULT_LEASE,
    max_attempts: int = 3,
    fn: HandlerFn | None = None,
) -> Callable[[HandlerFn], HandlerFn]:
    """Register a recurring job ``name`` every ``every`` (at least a second), run by the handler of ``kind``
    (default: ``name``). As a decorator it also registers the function as that handler; ``fn=`` does the same
    without decorating; neither: the kind's handler is registered elsewhere. Each slot runs once across all
    processes; a slot nobody ran (every process down) is not run later."""
    if every < timedelta(seconds=1):
        raise ValueError(f"periodic {name!r}: every must be at least 1 second")
    job_kind = kind or name
    with _lock:
        PERIODICS[name] = Periodic(name, every, job_kind, when, max_attempts)

    def register(f: HandlerFn) -> HandlerFn:
        return handler(job_kind, lease=lease)(f)

    if fn is not None:
        register(fn)
    return register


# -- the outbox side ----------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _insert(conn: Connection) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(jobs)


def enqueue(
    conn: Connection,
    kind: str,
    key: str,
    *,
    due_at: datetime,
    payload: Mapping[str, Any] | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    replace: bool = False,
    now: datetime | None = None,
) -> bool:
    """Insert a pending job in the caller's transaction (``conn`` from ``engine.begin()``). On a (kind, key)
    conflict nothing changes, unless ``replace`` and the existing job is still pending: then its due time and
    payload are replaced. True when a row was inserted or updated."""
    if len(key) > jobs.c.key.type.length:  # type: ignore[attr-defined]
        raise ValueError(f"job key longer than {jobs.c.key.type.length} characters: {key[:80]!r}…")  # type: ignore[attr-defined]
    at = now or _utcnow()
    stmt = _insert(conn).values(
        kind=kind,
        key=key,
        state=JOB_PENDING,
        due_at=due_at,
        attempts=0,
        max_attempts=max_attempts,
        payload=dict(payload or {}),
        created_at=at,
        updated_at=at,
    )
    if replace:
        stmt = stmt.on_conflict_do_update(
            index_elements=[jobs.c.kind, jobs.c.key],
            set_={"due_at": due_at, "payload": stmt.excluded.payload, "updated_at": at},
            where=jobs.c.state == JOB_PENDING,
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=[jobs.c.kind, jobs.c.key])
    return conn.execute(stmt.returning(jobs.c.id)).first() is not None


def cancel(conn: Connection, kind: str, key: str, *, now: datetime | None = None) -> bool:
    """A pending job becomes done (result ``{"cancelled": true}``); True when there was one."""
    at = now or _utcnow()
    done = conn.execute(
        update(jobs)
        .where(jobs.c.kind == kind, jobs.c.key == key, jobs.c.state == JOB_PENDING)
        .values(state=JOB_DONE, result={"cancelled": True}, finished_at=at, updated_at=at)
        .returning(jobs.c.id)
    ).first()
    return done is not None


# -- redaction of errors -------------------------------------------------------------------------------

Redactor = Callable[[str], str]
_REDACTORS: dict[str, Redactor] = {}
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)[^@\s]*(?P<tail>@)")
_SECRET_QUERY = re.compile(r"(?i)(?P<head>[?&](?:sig|token|access_token|key|secret|password)=)[^&\s\"']+")
_BEARER = re.compile(r"(?i)(?P<head>\b(?:bearer|xox[abprs]-)\s*)[A-Za-z0-9._\-]+")


def register_redactor(name: str, fn: Redactor) -> None:
    """Add a function every stored job error goes through (the notifiers mask their configured secrets)."""
    with _lock:
        _REDACTORS[name] = fn


def redact(text: str) -> str:
    """Mask what looks like a secret (a URL's password, ``sig=``/``token=`` query values, bearer tokens) and what
    the registered redactors mask; at most ERROR_LIMIT characters."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", text)
    text = _SECRET_QUERY.sub(lambda m: f"{m['head']}***", text)
    text = _BEARER.sub(lambda m: f"{m['head']}***", text)
    with _lock:
        redactors = list(_REDACTORS.values())
    for fn in redactors:
        text = fn(text)
    return text[:ERROR_LIMIT]


def describe(exc: BaseException) -> str:
    """An exception as one stored line: its type and the first line of its message, redacted."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return redact(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)


# -- dead letters ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadJob:
    id: int
    kind: str
    key: str
    attempts: int
    max_attempts: int
    last_error: str | None
    due_at: datetime
    created_at: datetime
    finished_at: datetime | None


def dead_jobs(engine: Engine, *, limit: int = 100) -> list[DeadJob]:
    """Dead jobs, most recent first (at most ``limit``)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                jobs.c.id,
                jobs.c.kind,
                jobs.c.key,
                jobs.c.attempts,
                jobs.c.max_attempts,
                jobs.c.last_error,
                jobs.c.due_at,
                jobs.c.created_at,
                jobs.c.finished_at,
            )
            .where(jobs.c.state == JOB_DEAD)
            .order_by(jobs.c.updated_at.desc(), jobs.c.id.desc())
            .limit(limit)
        ).all()
    return [DeadJob(**dict(r._mapping)) for r in rows]


def count_jobs(engine: Engine) -> dict[str, int]:
    """How many jobs each state holds."""
    with engine.connect() as conn:
        rows = conn.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state)).all()
    counts = {state: 0 for state in (JOB_PENDING, JOB_RUNNING, JOB_DONE, JOB_DEAD)}
    counts.update({str(r[0]): int(r[1]) for r in rows})
    return counts


def revive(conn: Connection, job_ids: Sequence[int], *, now: datetime | None = None) -> int:
    """Dead jobs become pending again, due now, with their attempts reset (an operator fixed the cause); the
    last error stays until the next attempt. Returns how many were revived."""
    if not job_ids:
        return 0
    at = now or _utcnow()
    result = conn.execute(
        update(jobs)
        .where(jobs.c.id.in_(sorted(set(job_ids))), jobs.c.state == JOB_DEAD)
        .values(
            state=JOB_PENDING,
            attempts=0,
            due_at=at,
            updated_at=at,
            finished_at=None,
            lease_holder=None,
            lease_until=None,
        )
        .returning(jobs.c.id)
    ).all()
    return len(result)
