"""What the archiver promises, under random histories, concurrent reopens, and SIGKILL:
it never removes an open or acknowledged incident, and everything it deletes is in a synced archive."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete

from parapet.evidence import IllegalTransition, IncidentNotFound
from parapet.evidence.archive import ArchiveOptions, read_archive, run_archive
from parapet.evidence.schema import TABLES
from tests.evidence.conftest import Database
from tests.evidence.helpers import (
    NOW,
    FixedClock,
    bulk_seed,
    ids_in_db,
    orphans,
    seeded_store,
    states_in_db,
)

OPS = st.sampled_from(["ack", "resolve", "reopen", "note", "action"])
HISTORY = st.tuples(st.integers(0, 200), st.lists(st.tuples(OPS, st.integers(0, 60)), max_size=6))


def _clear(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(TABLES):
            conn.execute(delete(table))


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    histories=st.lists(HISTORY, min_size=1, max_size=14),
    older_than_days=st.integers(1, 150),
    batch_size=st.integers(1, 6),
    gz=st.booleans(),
)
def test_archive_never_removes_active_and_never_loses_resolved(
    engine: Engine,
    tmp_path: Path,
    histories: list[tuple[int, list[tuple[str, int]]]],
    older_than_days: int,
    batch_size: int,
    gz: bool,
) -> None:
    _clear(engine)
    store, clock = seeded_store(engine)
    # Build each history in time order: open at ``start`` days ago, then each op some days later.
    for n, (start, ops) in enumerate(histories):
        clock.at = NOW - timedelta(days=start)
        from parapet.evidence import Alert

        inc = store.open_or_touch(Alert(correlation_key=f"k{n}", alert_name="A", severity="page", title="t")).incident
        for op, gap in ops:
            clock.at = min(NOW, clock.at + timedelta(days=gap))
            try:
                if op == "ack":
                    store.acknowledge(inc.id, actor="a")
                elif op == "resolve":
                    store.resolve(inc.id, actor="a")
                elif op == "reopen":
                    store.reopen(inc.id, actor="a")
                elif op == "note":
                    store.add_note(inc.id, actor="a", text="n")
                else:
                    store.record_action(
                        inc.id,
                        tool="t",
                        action_key="k",
                        actor="a",
                        parameters={},
                        outcome="ok",
                        started_at=clock.at,
                        finished_at=clock.at,
                    )
            except IllegalTransition:
                pass
    clock.at = NOW
    before = {i: store.get(i) for i in ids_in_db(engine)}
    timelines = {i: [e.id for e in store.timeline(i)] for i in before}
    cutoff = NOW - timedelta(days=older_than_days)
    target = tmp_path / f"prop-{random.getrandbits(32)}.jsonl{'.gz' if gz else ''}"
    result = run_archive(
        engine,
        ArchiveOptions(older_than=timedelta(days=older_than_days), archive_file=target, batch_size=batch_size),
        clock=FixedClock(NOW),
    )
    after = ids_in_db(engine)
    deleted = set(before) - after
    should_go = {
        i for i, inc in before.items() if inc.state == "resolved" and inc.resolved_at and inc.resolved_at < cutoff
    }
    assert deleted == should_go
    assert {i for i, inc in before.items() if inc.state != "resolved"} <= after
    archived = {d["incident"]["id"]: d for d in read_archive(target)} if target.exists() else {}
    assert deleted <= set(archived)
    for i in deleted:
        assert [e["id"] for e in archived[i]["timeline"]] == timelines[i]
        assert archived[i]["incident"]["version"] == before[i].version
    assert result.archived == len(deleted)
    assert orphans(engine) == 0


def test_reopen_while_archiving(postgres_db: Database, tmp_path: Path) -> None:
    """PostgreSQL: one thread archives in small batches while another reopens incidents at random.
    No reopened incident is deleted; everything deleted is in the archive."""
    engine = postgres_db.create_all()
    try:
        ids = bulk_seed(engine, 600, resolved_before=NOW - timedelta(days=100))
        store, _ = seeded_store(engine)
        target = tmp_path / "concurrent.jsonl"
        reopened: list[int] = []
        gone: list[int] = []
        started = threading.Event()
        done = threading.Event()
        errors: list[BaseException] = []

        def reopen_at_random() -> None:
            rng = random.Random(7)
            order = ids[:]
            rng.shuffle(order)
            started.wait()
            try:
                for i in order:
                    if done.is_set():
                        return
                    try:
                        store.reopen(i, actor="racer")
                        reopened.append(i)
                    except IncidentNotFound:
                        gone.append(i)
            except BaseException as exc:
                errors.append(exc)

        racer = threading.Thread(target=reopen_at_random)
        racer.start()
        started.set()
        result = run_archive(engine, ArchiveOptions(archive_file=target, batch_size=5), clock=FixedClock(NOW))
        done.set()
        racer.join()
        assert not errors, errors
        remaining = states_in_db(engine)
        archived = {d["incident"]["id"] for d in read_archive(target)}
        assert reopened and result.archived, "both sides must have made progress for the test to mean anything"
        for i in reopened:
            assert remaining[i] == "open", f"reopened incident {i} was deleted"
        deleted = set(ids) - set(remaining)
        assert deleted <= archived
        assert set(gone) <= deleted
        assert result.archived == len(deleted)
        assert all(state == "open" for state in remaining.values()), "anything left must be one the racer reopened"
        assert orphans(engine) == 0
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_killed_mid_run_loses_nothing(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> None:
    """SIGKILL `parapet archive` while it works, several times, then let it finish: every incident that
    left the database is in the archive file, which stays readable throughout."""
    database: Database = request.getfixturevalue("sqlite_db" if kind == "sqlite" else "postgres_db")
    engine = database.create_all()
    try:
        real_now = datetime.now(UTC)
        total = 4000
        ids = set(bulk_seed(engine, total, resolved_before=real_now - timedelta(days=100)))
        target = tmp_path / "killed.jsonl.gz"
        env = {**os.environ, "PARAPET_DATABASE_URL": database.url, "NO_COLOR": "1"}
        cmd = [sys.executable, "-m", "parapet_cli", "archive", "--archive-file", str(target), "--batch-size", "10"]
        rng = random.Random(11)
        kills = 0
        partial = 0  # kills after which some, but not all, incidents had left the database
        for _attempt in range(8):
            size_before = target.stat().st_size if target.exists() else 0
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 60
            # Wait until this run has written (and so may have deleted) something, then kill it soon after.
            while kills < 3 and proc.poll() is None and time.monotonic() < deadline:
                if target.exists() and target.stat().st_size > size_before:
                    time.sleep(rng.uniform(0.0, 0.15))
                    break
                time.sleep(0.005)
            if kills < 3 and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            _out, err = proc.communicate(timeout=60)
            left = ids_in_db(engine)
            archived = {d["incident"]["id"] for d in read_archive(target)} if target.exists() else set()
            assert (ids - left) <= archived, "an incident left the database without reaching the archive"
            assert orphans(engine) == 0
            partial += proc.returncode == -signal.SIGKILL and 0 < len(ids - left) < total
            if proc.returncode == 0 and b"nothing done" not in err:
                break
            assert proc.returncode in (0, -signal.SIGKILL), err.decode()
            if kind == "postgresql":
                time.sleep(0.2)  # let the server notice the dead session and release its advisory lock
        assert kills == 3 and partial >= 1, "no kill landed mid-run: make the data set larger"
        assert ids_in_db(engine) == set()
        assert {d["incident"]["id"] for d in read_archive(target)} == ids
    finally:
        engine.dispose()
