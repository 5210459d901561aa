"""The work engine on SQLite and PostgreSQL, in one process: enqueue and cancel, claims, fencing, retries with
backoff, dead letters, periodic slots, and the change hooks that enqueue in the writer's transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, func, insert, select

from parapet.evidence import hooks
from parapet.evidence.schema import jobs
from parapet.evidence.store import Alert, Store
from parapet.work import (
    JobContext,
    LeaseLost,
    Retry,
    Worker,
    cancel,
    dead_jobs,
    enqueue,
    handler,
    periodic,
    revive,
)
from parapet.work import jobs as registry
from tests.alerts.conftest import T0, Clock

CREATED: list[Worker] = []
steps_meta = MetaData()
steps = Table("work_test_steps", steps_meta, Column("id", Integer, primary_key=True), Column("key", String(255)))


@pytest.fixture
def db(engine: Engine) -> Iterator[Engine]:
    steps_meta.create_all(engine)
    yield engine
    while CREATED:  # before the engine is disposed: each holds its poller's connection
        CREATED.pop().close()


def _job(engine: Engine, kind: str, key: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(jobs).where(jobs.c.kind == kind, jobs.c.key == key)).one()


def _steps(engine: Engine, key: str | None = None) -> int:
    query = select(func.count()).select_from(steps)
    if key is not None:
        query = query.where(steps.c.key == key)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


@handler("t_write")
def write_step(ctx: JobContext) -> Mapping[str, Any] | None:
    with ctx.engine.begin() as conn:
        conn.execute(insert(steps).values(key=ctx.job.key))
        ctx.complete(conn, {"wrote": ctx.job.key})
    return None


@handler("t_return")
def return_value(ctx: JobContext) -> Mapping[str, Any] | None:
    return {"payload": ctx.job.payload, "attempt": ctx.job.attempts}


FAILS: dict[str, int] = {}


@handler("t_flaky", backoff=lambda n: timedelta(seconds=10 * n))
def flaky(ctx: JobContext) -> Mapping[str, Any] | None:
    left = FAILS.get(ctx.job.key, 0)
    if left:
        FAILS[ctx.job.key] = left - 1
        raise RuntimeError("cannot reach postgresql://app:hunter2@db:5432/x\nsecond line")
    return {"ok": True}


@handler("t_retry")
def retry_later(ctx: JobContext) -> Mapping[str, Any] | None:
    if ctx.job.payload.get("retry"):
        with ctx.engine.begin() as conn:
            enqueue(conn, "t_retry", ctx.job.key, due_at=ctx.now(), payload={}, replace=True)  # running: no-op
        raise Retry(after=timedelta(seconds=30), reason="rate limited")
    return {"attempt": ctx.job.attempts}


def worker(engine: Engine, clock: Clock, name: str, **kw: Any) -> Worker:
    made = Worker(engine, worker_id=name, clock=clock, **kw)
    CREATED.append(made)
    return made


def test_enqueue_is_idempotent_and_replace_touches_only_pending(db: Engine, clock: Clock) -> None:
    with db.begin() as conn:
        assert enqueue(conn, "t_return", "a", due_at=T0, payload={"n": 1}, now=T0)
        assert not enqueue(conn, "t_return", "a", due_at=T0 + timedelta(hours=1), payload={"n": 2}, now=T0)
    assert _job(db, "t_return", "a").payload == {"n": 1}
    with db.begin() as conn:
        assert enqueue(conn, "t_return", "a", due_at=T0 + timedelta(minutes=1), payload={"n": 3}, replace=True)
    row = _job(db, "t_return", "a")
    assert (row.payload, row.due_at, row.state) == ({"n": 3}, T0 + timedelta(minutes=1), "pending")
    clock.advance(minutes=2)
    (out,) = worker(db, clock, "w1", kinds=["t_return"]).run_once()
    assert (out.outcome, out.result) == ("done", {"payload": {"n": 3}, "attempt": 1})
    with db.begin() as conn:
        assert not enqueue(conn, "t_return", "a", due_at=T0, payload={"n": 4}, replace=True)  # done: untouched
        assert enqueue(conn, "t_return", "b", due_at=T0 + timedelta(days=1))
        assert cancel(conn, "t_return", "b")
        assert not cancel(conn, "t_return", "b")
    cancelled = _job(db, "t_return", "b")
    assert (cancelled.state, cancelled.result) == ("done", {"cancelled": True})
    done = _job(db, "t_return", "a")
    assert (done.state, done.result, done.lease_holder, done.attempts) == ("done", out.result, "w1", 1)


def test_only_due_jobs_run_and_the_handler_writes_commit_with_completion(db: Engine, clock: Clock) -> None:
    with db.begin() as conn:
        enqueue(conn, "t_write", "now", due_at=T0)
        enqueue(conn, "t_write", "later", due_at=T0 + timedelta(seconds=5))
    w = worker(db, clock, "w1", kinds=["t_write"])
    assert [o.job.key for o in w.run_once()] == ["now"]
    assert w.next_due == T0
    assert w.run_once() == []
    assert w.next_due == T0 + timedelta(seconds=5)  # the probe knows when to wake
    clock.advance(seconds=5)
    assert [(o.job.key, o.outcome) for o in w.run_once()] == [("later", "done")]
    assert _steps(db) == 2
    assert _job(db, "t_write", "now").result == {"wrote": "now"}


def test_a_lost_lease_rolls_the_stale_attempt_back(db: Engine, clock: Clock) -> None:
    """Worker A stalls past its lease; B takes the job over and completes it; A's completion then raises LeaseLost
    and its write rolls back: the step ran to commit exactly once."""
    entered, release = threading.Event(), threading.Event()
    seen: list[str] = []

    @handler("t_stall", lease=timedelta(seconds=10))
    def stall(ctx: JobContext) -> Mapping[str, Any] | None:
        if ctx.worker_id == "A":
            entered.set()
            release.wait(10)
        try:
            with ctx.engine.begin() as conn:
                conn.execute(insert(steps).values(key=ctx.job.key))
                ctx.complete(conn)
        except LeaseLost:
            seen.append(ctx.worker_id)
            raise
        return None

    with db.begin() as conn:
        enqueue(conn, "t_stall", "k", due_at=T0)
    a, b = worker(db, clock, "A", kinds=["t_stall"]), worker(db, clock, "B", kinds=["t_stall"])
    a.run_once(wait=False)
    assert entered.wait(10)
    assert b.run_once() == []  # A's lease holds
    clock.advance(seconds=11)
    (taken,) = b.run_once()
    assert (taken.outcome, taken.job.attempts) == ("done", 2)
    release.set()
    a.close()
    assert [o.outcome for o in a.run_once()] == ["lease_lost"]
    assert seen == ["A"]
    assert _steps(db, "k") == 1
    assert (_job(db, "t_stall", "k").state, _job(db, "t_stall", "k").lease_holder) == ("done", "B")


def test_failures_back_off_then_die_redacted_and_revive(db: Engine, clock: Clock) -> None:
    FAILS["x"] = 5
    with db.begin() as conn:
        enqueue(conn, "t_flaky", "x", due_at=T0, max_attempts=3)
    w = worker(db, clock, "w1", kinds=["t_flaky"])
    assert [o.outcome for o in w.run_once()] == ["failed"]
    row = _job(db, "t_flaky", "x")
    assert (row.state, row.attempts, row.due_at) == ("pending", 1, T0 + timedelta(seconds=10))
    assert row.last_error == "RuntimeError: cannot reach postgresql://app:***@db:5432/x"
    clock.advance(seconds=10)
    assert [o.outcome for o in w.run_once()] == ["failed"]
    assert _job(db, "t_flaky", "x").due_at == clock() + timedelta(seconds=20)
    clock.advance(seconds=20)
    assert [o.outcome for o in w.run_once()] == ["dead"]
    (dead,) = dead_jobs(db)
    assert (dead.kind, dead.key, dead.attempts) == ("t_flaky", "x", 3)
    assert "hunter2" not in (dead.last_error or "")
    clock.advance(hours=1)
    assert w.run_once() == []  # dead stays dead
    with db.begin() as conn:
        assert revive(conn, [dead.id], now=clock()) == 1
    FAILS["x"] = 0
    assert [(o.outcome, o.job.attempts) for o in w.run_once()] == [("done", 1)]
    assert dead_jobs(db) == []


def test_retry_reschedules_without_counting_an_attempt(db: Engine, clock: Clock) -> None:
    with db.begin() as conn:
        enqueue(conn, "t_retry", "r", due_at=T0, payload={"retry": True}, max_attempts=1)
    w = worker(db, clock, "w1", kinds=["t_retry"])
    assert [o.outcome for o in w.run_once()] == ["retry"]
    row = _job(db, "t_retry", "r")
    # not a failure: the attempt is given back
    assert (row.state, row.attempts, row.max_attempts) == ("pending", 0, 1)
    assert (row.due_at, row.last_error) == (T0 + timedelta(seconds=30), None)
    assert row.payload == {"retry": True}  # the replace while it ran changed nothing
    with db.begin() as conn:
        enqueue(conn, "t_retry", "r", due_at=T0, payload={}, replace=True)  # pending again: replaced
    assert [(o.outcome, o.result) for o in w.run_once()] == [("done", {"attempt": 1})]


def test_a_periodic_slot_runs_once_across_workers(db: Engine, clock: Clock) -> None:
    runs: list[tuple[str, int]] = []

    @periodic("t_tick", every=timedelta(seconds=30))
    def tick(ctx: JobContext) -> Mapping[str, Any] | None:
        runs.append((ctx.worker_id, ctx.job.payload["slot"]))
        return None

    try:
        workers = [worker(db, clock, f"w{n}", kinds=["t_tick"]) for n in range(3)]
        clock.advance(seconds=7)  # T0 is on a slot boundary; the slot started 7 s ago
        for w in workers:
            w.run_once()
        slot = int(T0.timestamp())
        assert [s for _, s in runs] == [slot]
        assert _job(db, "t_tick", f"t_tick@{slot}").due_at == T0
        clock.advance(seconds=30)
        for w in reversed(workers):
            w.run_once()
        assert [s for _, s in runs] == [slot, slot + 30]
        clock.advance(seconds=95)  # slots nobody ran are not run later
        for w in workers:
            w.run_once()
        assert [s for _, s in runs] == [slot, slot + 30, slot + 120]
    finally:
        registry.PERIODICS.pop("t_tick")


def test_hooks_enqueue_in_the_writers_transaction(db: Engine, clock: Clock) -> None:
    store = Store(db, clock=clock)
    seen: list[tuple[str, str]] = []

    def outbox(conn: Any, changes: Any) -> None:
        for change in changes:
            seen.append((change.kind, change.actor))
            assert change.entry_id is not None
            enqueue(conn, "t_return", f"{change.incident_id}:{change.entry_id}", due_at=change.at, now=change.at)
            if change.kind == "note" and change.data == {} and "boom" in str(seen):
                raise RuntimeError("subscriber failed")

    hooks.subscribe("t_outbox", outbox)
    try:
        incident = store.open_or_touch(Alert("k", "A", "critical", "t")).incident
        store.acknowledge(incident.id, actor="alice")
        seen.append(("boom", ""))
        with pytest.raises(RuntimeError):
            store.add_note(incident.id, actor="bob", text="x")
    finally:
        hooks.unsubscribe("t_outbox")
    assert seen[:2] == [("opened", "system:alertmanager"), ("acknowledged", "alice")]
    with db.connect() as conn:
        mine = select(func.count()).select_from(jobs).where(jobs.c.kind == "t_return")
        assert conn.execute(mine).scalar_one() == 2  # the note rolled back
    assert [e.kind for e in store.timeline(incident.id)] == ["opened", "acknowledged"]


def test_an_idle_tick_is_one_query(db: Engine, clock: Clock) -> None:
    from sqlalchemy import event

    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    w = worker(db, clock, "w1", kinds=["t_return"])
    w.run_once()  # the first tick also writes the heartbeat
    event.listen(db, "before_cursor_execute", count)
    try:
        for _ in range(5):
            clock.advance(seconds=1)
            assert w.run_once() == []
    finally:
        event.remove(db, "before_cursor_execute", count)
    assert len(statements) == 5, statements
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements)


def test_the_intake_and_the_loops_emit_their_timeline_entries(db: Engine, clock: Clock) -> None:
    from parapet.alerts import Correlator, ingest, parse_payload
    from parapet.alerts.worker import mark_stale
    from tests.alerts.conftest import alert, payload

    store = Store(db, clock=clock)
    seen: list[hooks.Change] = []
    hooks.subscribe("t_seen", lambda _conn, changes: seen.extend(changes))
    try:
        opened = ingest(store, parse_payload(payload(alert(), alert(instance="b"))), Correlator()).opened[0]
        ingest(store, parse_payload(payload(alert(instance="c"))), Correlator())
        clock.advance(hours=13)
        mark_stale(store, timedelta(hours=4))
    finally:
        hooks.unsubscribe("t_seen")
    timeline = store.timeline(opened)
    assert [(c.kind, c.entry_id, c.actor) for c in seen] == [(e.kind, e.id, e.actor) for e in timeline]
    assert [c.kind for c in seen] == ["opened", "instance_added", "instance_stale"]
    assert seen[0].data["instances"] == 2


def test_archive_prunes_old_done_jobs_only(db: Engine, clock: Clock, tmp_path: Any) -> None:
    from parapet.evidence.archive import ArchiveOptions, run_archive

    FAILS["old-dead"] = 1
    with db.begin() as conn:
        for key in ("old-done", "old-dead"):
            enqueue(conn, "t_flaky", key, due_at=T0, max_attempts=1, now=T0)
        enqueue(conn, "t_flaky", "old-pending", due_at=T0 + timedelta(days=30), now=T0)
    worker(db, clock, "w1", kinds=["t_flaky"]).run_once()
    clock.advance(days=8)
    with db.begin() as conn:
        enqueue(conn, "t_flaky", "new-done", due_at=clock(), now=clock())
    worker(db, clock, "w1", kinds=["t_flaky"]).run_once()
    dry = run_archive(db, ArchiveOptions(dry_run=True), clock=clock)
    assert dry.jobs_pruned == 1
    done = run_archive(db, ArchiveOptions(archive_file=tmp_path / "a.jsonl"), clock=clock)
    assert done.jobs_pruned == 1
    with db.connect() as conn:
        left = dict(conn.execute(select(jobs.c.key, jobs.c.state).where(jobs.c.kind == "t_flaky")).all())
    assert left == {"old-dead": "dead", "old-pending": "pending", "new-done": "done"}


def test_load_skips_a_handler_module_that_is_not_installed() -> None:
    from parapet.work import registry as parts

    assert parts.load(("parapet.alerts.worker", "parapet.not_installed_here")) == ["parapet.not_installed_here"]
