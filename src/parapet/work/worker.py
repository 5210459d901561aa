"""The poller: claims due jobs, runs their handlers in threads, completes them fenced, takes over dead leases.

One tick (``run_once``, or each turn of the background runner):

    heartbeat   every 15 s, the process's row of ``parapet_workers`` (``parapet doctor`` PAR303 reads it)
    periodic    the job of each periodic's current slot, inserted once per slot per process (a conflict: done)
    renew       the leases of the jobs this process runs, every third of their lease
    probe       one query: the earliest due pending job and the earliest lease of a running one
    claim       when something is due: PostgreSQL ``UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)``, SQLite a
                conditional ``UPDATE … WHERE id IN (SELECT …) RETURNING`` (one writer at a time); both in one
                statement that sets state running, lease_holder = this worker, lease_until and attempts + 1

With nothing due a tick costs one query (the probe), and the runner sleeps until the earliest due time or a
second, whichever comes first. A claimed job runs in the thread pool; its completion is fenced on (id,
lease_holder, attempts): an attempt whose lease expired and whose job another process took over can no
longer complete it, and its transaction rolls back (``LeaseLost``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Engine, and_, case, insert, literal, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from parapet.evidence.schema import JOB_DEAD, JOB_DONE, JOB_PENDING, JOB_RUNNING, UTCDateTime, jobs, workers
from parapet.work import jobs as registry
from parapet.work import registry as registry_modules
from parapet.work.jobs import Handler, Job, LeaseLost, Retry, describe, enqueue

HEARTBEAT_EVERY: Final = timedelta(seconds=15)
DEFAULT_POLL: Final = 1.0
DEFAULT_CONCURRENCY: Final = 4

log = logging.getLogger("parapet.work")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def default_worker_id(hostname: str | None = None) -> str:
    return f"{hostname or socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class JobContext:
    """What a handler gets: the job, the engine, the clock, who runs it, the spec; ``complete(conn)`` marks the
    job done inside the handler's own transaction, fenced."""

    job: Job
    engine: Engine
    worker_id: str
    settings: Any
    clock: Callable[[], datetime] = _utcnow
    options: Mapping[str, Any] = field(default_factory=dict)  # the runtime's knobs that are not in the spec
    completed: bool = False

    def now(self) -> datetime:
        return self.clock()

    def complete(self, conn: Connection, result: Mapping[str, Any] | None = None) -> None:
        """Mark the job done in ``conn``'s transaction (``with ctx.engine.begin() as conn:``), only if this attempt
        still holds it; otherwise raise LeaseLost, which rolls the transaction back with the handler's writes."""
        _fenced_done(conn, self.job, self.worker_id, self.now(), result)
        self.completed = True

    def still_held(self) -> bool:
        """Whether this attempt still holds the job (check before an external side effect)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs.c.id).where(_fence(self.job, self.worker_id))).first()
        return row is not None


def _fence(job: Job, worker_id: str) -> Any:
    return and_(
        jobs.c.id == job.id,
        jobs.c.state == JOB_RUNNING,
        jobs.c.lease_holder == worker_id,
        jobs.c.attempts == job.attempts,
    )


def _fenced_done(conn: Connection, job: Job, worker_id: str, now: datetime, result: Mapping[str, Any] | None) -> None:
    done = conn.execute(
        update(jobs)
        .where(_fence(job, worker_id))
        .values(
            state=JOB_DONE,
            result=dict(result) if result is not None else None,
            finished_at=now,
            updated_at=now,
            lease_until=None,
        )
    ).rowcount
    if done != 1:
        raise LeaseLost(f"job {job.kind}/{job.key} (attempt {job.attempts}) is no longer held by {worker_id}")


@dataclass(frozen=True)
class Outcome:
    """What one run of a job ended in: done, retry, failed (will be retried), dead, or lease_lost."""

    job: Job
    outcome: str
    result: Mapping[str, Any] | None = None
    error: str | None = None


@dataclass
class _Running:
    job: Job
    handler: Handler
    renewed_at: datetime


class Worker:
    """One process's poller and handler threads. ``run_once()`` runs a tick and waits for the jobs it claimed;
    ``run(stop)`` loops until ``stop`` is set; ``running_in_background`` does that in a thread.

    ``settings`` (the loaded spec, or None) and ``options`` (the runtime's own knobs) reach handlers as
    ``ctx.settings`` and ``ctx.options``; ``kinds`` limits the job kinds it runs (default: every registered one);
    ``worker_id`` and ``hostname`` name it in leases and heartbeats (default: host, pid and a random suffix)."""

    def __init__(
        self,
        engine: Engine,
        *,
        settings: Any = None,
        worker_id: str | None = None,
        hostname: str | None = None,
        kind: str = "worker",
        poll: float = DEFAULT_POLL,
        concurrency: int = DEFAULT_CONCURRENCY,
        kinds: Iterable[str] | None = None,
        clock: Callable[[], datetime] = _utcnow,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        registry_modules.load()
        self.engine = engine
        self.settings = settings
        self.options: Mapping[str, Any] = dict(options or {})
        self.hostname = (hostname or socket.gethostname())[:255]
        self.worker_id = (worker_id or default_worker_id(self.hostname))[:255]
        self.kind = kind
        self.poll = poll
        self.concurrency = max(1, concurrency)
        self.clock = clock
        self._kinds = None if kinds is None else frozenset(kinds)
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="parapet-job")
        self._running: dict[int, _Running] = {}
        self._lock = threading.Lock()
        self._ensured: dict[str, int] = {}
        self._started_at: datetime | None = None
        self._beat_at: datetime | None = None
        self._outcomes: list[Outcome] = []
        self.next_due: datetime | None = None
        self._backlog = False
        self._wake = threading.Event()
        self._poll_conn: Connection | None = None
        self._poll_finalizer: Callable[[], Any] = _nothing

    # -- what this worker runs ------------------------------------------------------------------------

    def handlers(self) -> dict[str, Handler]:
        known = dict(registry.HANDLERS)
        return known if self._kinds is None else {k: h for k, h in known.items() if k in self._kinds}

    # -- one tick ---------------------------------------------------------------------------------------

    def run_once(self, *, wait: bool = True) -> list[Outcome]:
        """Beat, ensure periodic slots, renew leases, claim what is due and run it; with ``wait``, wait for those
        jobs and return their outcomes (without, the outcomes of jobs that finished since the last call). The
        poller's connection goes back to the pool afterwards (``run`` keeps it from one tick to the next)."""
        try:
            return self._run_once(wait=wait)
        finally:
            self._poll_conn = None
            self._poll_finalizer()

    def _run_once(self, *, wait: bool) -> list[Outcome]:
        futures = self._tick()
        if wait:
            for f in futures:
                f.result()
        with self._lock:
            out, self._outcomes = self._outcomes, []
        return out

    def _tick(self) -> list[Future[None]]:
        now = self.clock()
        if self._started_at is None:
            self._started_at = now
        if self._beat_at is None or now - self._beat_at >= HEARTBEAT_EVERY:
            self.heartbeat(now)
            self._beat_at = now
        handlers = self.handlers()
        self._ensure_periodic(now, handlers)
        self._renew(now)
        with self._lock:
            free = self.concurrency - len(self._running)
        if free <= 0 or not handlers:
            return []
        if not self._backlog:  # the last claim was not full: ask when the next job is due
            self.next_due = self._probe(now, handlers)
            if self.next_due is None or self.next_due > now:
                return []
        claimed = self._claim(now, handlers, free)
        # A full claim means more may be due: the next tick claims again without probing first (under load a job
        # then costs one claim, not a probe and a claim).
        self._backlog = len(claimed) == free
        return [self._pool.submit(self._execute, run) for run in claimed]

    def heartbeat(self, now: datetime) -> None:
        """Upsert this process's row of ``parapet_workers``."""
        with self.engine.begin() as conn:
            seen = conn.execute(update(workers).where(workers.c.worker_id == self.worker_id).values(seen_at=now))
            if seen.rowcount:
                return
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(workers).values(
                            worker_id=self.worker_id,
                            hostname=self.hostname,
                            pid=os.getpid(),
                            kind=self.kind[:32],
                            started_at=self._started_at or now,
                            seen_at=now,
                        )
                    )
            except IntegrityError:
                pass

    def _ensure_periodic(self, now: datetime, handlers: Mapping[str, Handler]) -> None:
        wanted = []
        for p in list(registry.PERIODICS.values()):
            if p.kind not in handlers or (p.when is not None and not p.when(self)):
                continue
            slot = p.slot(now)
            if self._ensured.get(p.name) != slot:
                wanted.append((p, slot))
        if not wanted:
            return
        with self.engine.begin() as conn:
            for p, slot in wanted:
                due = datetime.fromtimestamp(slot, UTC)
                enqueue(
                    conn,
                    p.kind,
                    p.key(slot),
                    due_at=due,
                    payload={"periodic": p.name, "slot": slot},
                    max_attempts=p.max_attempts,
                    now=now,
                )
        for p, slot in wanted:
            self._ensured[p.name] = slot

    def _renew(self, now: datetime) -> None:
        with self._lock:
            stale = [r for r in self._running.values() if now - r.renewed_at >= r.handler.lease / 3]
        if not stale:
            return
        by_lease: dict[timedelta, list[_Running]] = {}
        for r in stale:
            by_lease.setdefault(r.handler.lease, []).append(r)
        with self.engine.begin() as conn:
            for lease, runs in by_lease.items():
                conn.execute(
                    update(jobs)
                    .where(
                        jobs.c.id.in_([r.job.id for r in runs]),
                        jobs.c.state == JOB_RUNNING,
                        jobs.c.lease_holder == self.worker_id,
                    )
                    .values(lease_until=now + lease)
                )
        for r in stale:
            r.renewed_at = now

    def _due(self, now: datetime, kinds: list[str]) -> Any:
        return and_(
            jobs.c.kind.in_(kinds),
            or_(
                and_(jobs.c.state == JOB_PENDING, jobs.c.due_at <= now),
                and_(jobs.c.state == JOB_RUNNING, jobs.c.lease_until < now),
            ),
        )

    def _probe(self, now: datetime, handlers: Mapping[str, Handler]) -> datetime | None:
        """The earliest moment something is due: a pending job's due time, or a running job's lease end."""
        kinds = sorted(handlers)
        pending = select(jobs.c.due_at).where(jobs.c.state == JOB_PENDING, jobs.c.kind.in_(kinds))
        running = select(jobs.c.lease_until).where(jobs.c.state == JOB_RUNNING, jobs.c.kind.in_(kinds))
        query = select(
            pending.order_by(jobs.c.due_at).limit(1).scalar_subquery(),
            running.order_by(jobs.c.lease_until).limit(1).scalar_subquery(),
        )
        row = self._on_poll_connection(lambda conn: conn.execute(query).one())
        times = [t for t in (row[0], row[1]) if t is not None]
        out = min(times) if times else None
        if out is not None and out.tzinfo is None:
            out = out.replace(tzinfo=UTC)
        return out

    def _on_poll_connection(self, fn: Callable[[Connection], Any]) -> Any:
        """Run ``fn`` on the poller's own connection, kept across ticks (autocommit on PostgreSQL): an idle tick
        is then one statement, without a pool checkout or its liveness ping. A failed statement drops the
        connection; the next tick opens another."""
        if self._poll_conn is None:
            conn = self.engine.connect()
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="AUTOCOMMIT")
            self._poll_conn = conn
            # a worker dropped without close() (a test, a host that forgot) still returns it to the pool
            self._poll_finalizer = weakref.finalize(self, _close_quietly, conn)
        try:
            return fn(self._poll_conn)
        except SQLAlchemyError:
            self._drop_poll_connection()
            raise

    def _drop_poll_connection(self) -> None:
        conn, self._poll_conn = self._poll_conn, None
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                conn.invalidate()
            self._poll_finalizer()

    def _claim(self, now: datetime, handlers: Mapping[str, Handler], limit: int) -> list[_Running]:
        kinds = sorted(handlers)
        lease_until = case(
            {k: literal(now + h.lease, UTCDateTime()) for k, h in handlers.items()},
            value=jobs.c.kind,
            else_=literal(now + registry.DEFAULT_LEASE, UTCDateTime()),
        )
        values = {
            "state": JOB_RUNNING,
            "lease_holder": self.worker_id,
            "lease_until": lease_until,
            "attempts": jobs.c.attempts + 1,
            "updated_at": now,
        }
        picked = select(jobs.c.id).where(self._due(now, kinds)).order_by(jobs.c.due_at, jobs.c.id).limit(limit)
        if self.engine.dialect.name == "postgresql":
            chosen = picked.with_for_update(skip_locked=True).cte("picked")
            stmt = update(jobs).where(jobs.c.id == chosen.c.id).values(**values)
            rows = self._on_poll_connection(lambda conn: conn.execute(stmt.returning(*jobs.c)).all())
        else:
            stmt = update(jobs).where(jobs.c.id.in_(picked.scalar_subquery()), self._due(now, kinds)).values(**values)
            with self.engine.begin() as conn:
                rows = conn.execute(stmt.returning(*jobs.c)).all()
        claimed: list[_Running] = []
        for r in sorted(rows, key=lambda r: (r.due_at, r.id)):
            job = Job(r.id, r.kind, r.key, dict(r.payload or {}), r.attempts, r.due_at, r.created_at, r.max_attempts)
            if job.attempts > job.max_attempts:  # taken over from a process that died max_attempts times
                self._settle(
                    job,
                    state=JOB_DEAD,
                    error=f"the process running it stopped before it finished, {job.max_attempts} times "
                    "(its lease expired each time)",
                    outcome="dead",
                )
                continue
            run = _Running(job, handlers[job.kind], now)
            with self._lock:
                self._running[job.id] = run
            claimed.append(run)
        return claimed

    # -- running one job ------------------------------------------------------------------------------

    def _execute(self, run: _Running) -> None:
        job = run.job
        ctx = JobContext(job, self.engine, self.worker_id, self.settings, self.clock, self.options)
        try:
            result = run.handler.fn(ctx)
        except Retry as exc:
            self._settle(job, state=JOB_PENDING, due=self.clock() + exc.after, error=None, outcome="retry", retry=True)
        except LeaseLost as exc:
            log.info("%s", exc)
            self._record(Outcome(job, "lease_lost", error=str(exc)))
        except Exception as exc:
            error = describe(exc)
            log.warning(
                "job %s/%s failed (attempt %d of %d): %s", job.kind, job.key, job.attempts, job.max_attempts, error
            )
            if job.attempts >= job.max_attempts:
                self._settle(job, state=JOB_DEAD, error=error, outcome="dead")
            else:
                delay = run.handler.backoff(job.attempts)
                self._settle(job, state=JOB_PENDING, due=self.clock() + delay, error=error, outcome="failed")
        else:
            self._finish(ctx, result)
        finally:
            with self._lock:
                self._running.pop(job.id, None)
            self._wake.set()

    def _finish(self, ctx: JobContext, result: Mapping[str, Any] | None) -> None:
        job = ctx.job
        if ctx.completed:
            self._record(Outcome(job, "done", result))
            return
        try:
            with self.engine.begin() as conn:
                _fenced_done(conn, job, self.worker_id, self.clock(), result)
        except LeaseLost as exc:
            log.info("%s: its result is dropped", exc)
            self._record(Outcome(job, "lease_lost", result, str(exc)))
        except SQLAlchemyError as exc:
            log.warning("job %s/%s ran but could not be marked done: %s", job.kind, job.key, describe(exc))
            self._record(Outcome(job, "lease_lost", result, describe(exc)))
        else:
            self._record(Outcome(job, "done", result))

    def _settle(
        self,
        job: Job,
        *,
        state: str,
        error: str | None,
        outcome: str,
        due: datetime | None = None,
        retry: bool = False,
    ) -> None:
        """Move a job this attempt holds to pending (a retry) or dead, fenced; a lost lease changes nothing."""
        now = self.clock()
        values: dict[str, Any] = {"state": state, "updated_at": now, "lease_until": None}
        if error is not None:
            values["last_error"] = error
        if due is not None:
            values["due_at"] = due
        if retry:
            # A Retry is not a failure: its attempt is given back. The fence still holds: "running at attempt n" only
            # follows a claim from n - 1, and the count returns to n - 1 only by a Retry of the current holder of
            # n, so while one attempt n runs, no other attempt n can start
            values["attempts"] = jobs.c.attempts - 1
        if state == JOB_DEAD:
            values["finished_at"] = now
        try:
            with self.engine.begin() as conn:
                changed = conn.execute(update(jobs).where(_fence(job, self.worker_id)).values(**values)).rowcount
        except SQLAlchemyError as exc:
            log.warning("job %s/%s: cannot record its outcome: %s", job.kind, job.key, describe(exc))
            changed = 0
        self._record(Outcome(job, outcome if changed else "lease_lost", error=error))

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self._outcomes.append(outcome)
            del self._outcomes[:-1000]

    # -- the loop ---------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set: about once a second, sooner when a job falls due earlier or a handler
        thread frees up while work is waiting."""
        try:
            while not stop.is_set():
                wait = self.poll
                try:
                    self._run_once(wait=False)
                    now = self.clock()
                    if not self._full() and self.next_due is not None:
                        until = (self.next_due - now).total_seconds()
                        wait = min(wait, max(0.02, until))  # due already: more than was claimed
                    renew = self._next_renewal()
                    if renew is not None:
                        wait = min(wait, max(0.02, (renew - now).total_seconds()))
                except SQLAlchemyError as exc:
                    log.warning("work poll failed (database unavailable?): %s", describe(exc))
                self._wake.wait(wait)
                self._wake.clear()
        finally:
            self.close()

    def _next_renewal(self) -> datetime | None:
        with self._lock:
            return min((r.renewed_at + r.handler.lease / 3 for r in self._running.values()), default=None)

    def _full(self) -> bool:
        with self._lock:
            return len(self._running) >= self.concurrency

    def wake(self) -> None:
        """Make the runner tick now (after a stop was requested, or a job was enqueued in this process)."""
        self._wake.set()

    def close(self) -> None:
        """Wait for running handlers, then release the poller's connection."""
        self._pool.shutdown(wait=True)
        self._poll_conn = None
        self._poll_finalizer()


def _nothing() -> None:
    return None


def _close_quietly(conn: Connection) -> None:
    with contextlib.suppress(Exception):
        conn.close()


@asynccontextmanager
async def running_in_background(worker: Worker) -> AsyncIterator[Worker]:
    """The worker's loop in a thread for the duration of the block (``parapet serve``'s lifespan, a host's)."""
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name="parapet-work", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        worker.wake()
        thread.join(timeout=30)
