"""The archiver on real SQLite and PostgreSQL: what it selects, what it writes, what it deletes, what it
refuses to delete, its lock, dry run, torn-tail repair and system-event pruning."""

from __future__ import annotations

import gzip
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from parapet.errors import ConfigError
from parapet.evidence.archive import (
    ArchiveOptions,
    BadDuration,
    archive_lock,
    delete_batch,
    load_documents,
    lock_key,
    parse_duration,
    read_archive,
    run_archive,
)
from tests.evidence.helpers import (
    NOW,
    FixedClock,
    child_counts,
    ids_in_db,
    make_incident,
    orphans,
    seeded_store,
    states_in_db,
)


def _seed(engine: Engine) -> dict[str, list[int]]:
    store, clock = seeded_store(engine)
    groups: dict[str, list[int]] = {"old_resolved": [], "recent_resolved": [], "old_active": []}
    for i in range(5):
        groups["old_resolved"].append(make_incident(store, clock, f"old{i}", state="resolved", days_ago=100 + i))
    for i in range(2):
        groups["recent_resolved"].append(make_incident(store, clock, f"new{i}", state="resolved", days_ago=10))
    groups["old_active"].append(make_incident(store, clock, "open-old", state="open", days_ago=200))
    groups["old_active"].append(make_incident(store, clock, "ack-old", state="acknowledged", days_ago=200))
    for days in (30, 9, 8):
        store.record_system_event("deploy", service="api", occurred_at=NOW - timedelta(days=days))
    store.record_system_event("feature_flag", occurred_at=NOW - timedelta(days=1))
    return groups


@pytest.mark.parametrize("name", ["archive.jsonl", "archive.jsonl.gz"])
def test_archives_resolved_by_resolution_time(engine: Engine, tmp_path: Path, name: str) -> None:
    groups = _seed(engine)
    # Resolved 100+ days ago, opened 101+ days ago; an incident opened long ago but resolved recently stays.
    store, clock = seeded_store(engine)
    opened_long_ago = make_incident(store, clock, "opened-old-resolved-new", state="resolved", days_ago=5)
    target = tmp_path / "out" / name
    before_timelines = {i: [e.kind for e in store.timeline(i)] for i in groups["old_resolved"]}
    result = run_archive(
        engine, ArchiveOptions(older_than=timedelta(days=90), archive_file=target, batch_size=2), clock=FixedClock(NOW)
    )
    assert (result.archived, result.batches, result.skipped, result.events_pruned) == (5, 3, 0, 3)
    assert result.locked and not result.dry_run
    assert result.bytes == target.stat().st_size
    assert ids_in_db(engine) == set(groups["recent_resolved"] + groups["old_active"] + [opened_long_ago])
    assert orphans(engine) == 0
    counts = child_counts(engine)
    assert counts["parapet_system_events"] == 1
    assert counts["parapet_tool_audits"] == 5  # 4 kept incidents + the new one, one action each
    docs = list(read_archive(target))
    assert sorted(d["incident"]["id"] for d in docs) == sorted(groups["old_resolved"])
    for doc in docs:
        assert doc["format"] == "parapet.evidence/v1"
        assert doc["incident"]["state"] == "resolved"
        assert [e["kind"] for e in doc["timeline"]] == before_timelines[doc["incident"]["id"]]
        assert [a["tool"] for a in doc["tool_audits"]] == ["restart"]
        assert [c["action_key"] for c in doc["action_claims"]] == ["restart"]
        assert doc["incident"]["resolved_at"].endswith("+00:00")
    if name.endswith(".gz"):
        with gzip.open(target, "rt") as handle:  # a standard reader sees the same lines
            assert len(handle.readlines()) == 5
    # Nothing left to archive: a second run appends nothing and deletes nothing.
    again = run_archive(engine, ArchiveOptions(archive_file=target), clock=FixedClock(NOW))
    assert (again.archived, again.batches, again.events_pruned) == (0, 0, 0)
    assert len(list(read_archive(target))) == 5


def test_dry_run_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    _seed(engine)
    before = (ids_in_db(engine), child_counts(engine))
    target = tmp_path / "a.jsonl"
    result = run_archive(engine, ArchiveOptions(archive_file=target, dry_run=True, batch_size=3), clock=FixedClock(NOW))
    assert (result.archived, result.batches, result.events_pruned, result.dry_run) == (5, 2, 3, True)
    assert result.bytes > 0
    assert not target.exists()
    assert (ids_in_db(engine), child_counts(engine)) == before
    # A dry run needs no archive file.
    assert run_archive(engine, ArchiveOptions(dry_run=True), clock=FixedClock(NOW)).archived == 5


def test_changed_incidents_are_not_deleted(engine: Engine) -> None:
    """The delete re-checks state, resolution time and version under the row lock."""
    store, clock = seeded_store(engine)
    ids = [make_incident(store, clock, f"k{i}", state="resolved", days_ago=100) for i in range(4)]
    cutoff = NOW - timedelta(days=90)
    with engine.connect() as conn:
        _docs, versions = load_documents(conn, ids)
    store.reopen(ids[0], actor="carol")  # reopened since it was archived
    store.add_note(ids[1], actor="dave", text="late finding")  # a note the archive does not hold
    store.reopen(ids[2], actor="carol")
    store.resolve(ids[2], actor="carol")  # resolved again, now: too recent
    with engine.begin() as conn:
        deleted = delete_batch(conn, cutoff, versions)
    assert deleted == [ids[3]]
    assert ids_in_db(engine) == set(ids[:3])
    assert [e.kind for e in store.timeline(ids[1])][-1] == "note"


def test_torn_tail_is_cut_before_appending(engine: Engine, tmp_path: Path) -> None:
    store, clock = seeded_store(engine)
    make_incident(store, clock, "a", state="resolved", days_ago=100)
    plain = tmp_path / "a.jsonl"
    plain.write_bytes(b'{"format":"parapet.evidence/v1","incident":{"id":-1}}\n{"format":"parapet.ev')
    packed = tmp_path / "a.jsonl.gz"
    member = gzip.compress(b'{"incident":{"id":-2}}\n', mtime=0)
    packed.write_bytes(member + gzip.compress(b'{"incident":{"id":-3}}\n', mtime=0)[:15])
    run_archive(engine, ArchiveOptions(archive_file=plain), clock=FixedClock(NOW))
    assert next(read_archive(plain))["incident"]["id"] == -1
    assert len(list(read_archive(plain))) == 2
    assert json.loads(plain.read_bytes().splitlines()[-1])["incident"]["state"] == "resolved"
    make_incident(store, clock, "b", state="resolved", days_ago=100)
    run_archive(engine, ArchiveOptions(archive_file=packed), clock=FixedClock(NOW))
    with gzip.open(packed, "rt") as handle:  # repaired: a plain gzip reader reads it to the end
        lines = [json.loads(line) for line in handle]
    assert lines[0]["incident"]["id"] == -2
    assert lines[-1]["incident"]["correlation_key"] == "b"


def test_second_run_exits_when_locked(engine: Engine, tmp_path: Path) -> None:
    store, clock = seeded_store(engine)
    make_incident(store, clock, "a", state="resolved", days_ago=100)
    with archive_lock(engine) as held:
        assert held
        if engine.dialect.name == "postgresql":
            # The lock is a session lock: another session (another cron run) does not get it.
            with engine.connect() as other:
                schema = other.execute(text("SELECT current_schema()")).scalar_one()
                key = lock_key(str(schema))
                assert other.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one() is False
        result = run_archive(engine, ArchiveOptions(archive_file=tmp_path / "x.jsonl"), clock=FixedClock(NOW))
        assert not result.locked and result.archived == 0
        assert not (tmp_path / "x.jsonl").exists()
        assert len(ids_in_db(engine)) == 1
    result = run_archive(engine, ArchiveOptions(archive_file=tmp_path / "x.jsonl"), clock=FixedClock(NOW))
    assert result.locked and result.archived == 1


def test_states_never_pruned(engine: Engine, tmp_path: Path) -> None:
    groups = _seed(engine)
    run_archive(engine, ArchiveOptions(older_than=timedelta(seconds=1), archive_file=tmp_path / "a.jsonl"))
    states = states_in_db(engine)
    assert set(states.values()) == {"open", "acknowledged"}
    assert set(states) == set(groups["old_active"])


@pytest.mark.parametrize(
    ("text_value", "expected"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        (" 2w ", timedelta(weeks=2)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_parse_duration(text_value: str, expected: timedelta) -> None:
    assert parse_duration(text_value) == expected


@pytest.mark.parametrize("bad", ["", "90", "d", "-3d", "0d", "1.5d", "3x", "90 days"])
def test_parse_duration_refuses(bad: str) -> None:
    with pytest.raises(BadDuration, match="is not a duration") as info:
        parse_duration(bad)
    assert info.value.hint and "90d" in info.value.hint


def test_requires_archive_file_and_sane_batch(engine: Engine) -> None:
    with pytest.raises(ConfigError, match="archive_file is not set"):
        run_archive(engine, ArchiveOptions())
    with pytest.raises(ConfigError, match="batch_size 0 is out of range"):
        run_archive(engine, ArchiveOptions(dry_run=True, batch_size=0))


def test_archive_file_is_created_private(engine: Engine, tmp_path: Path) -> None:
    store, clock = seeded_store(engine)
    make_incident(store, clock, "a", state="resolved", days_ago=100)
    target = tmp_path / "deep" / "dir" / "a.jsonl"
    run_archive(engine, ArchiveOptions(archive_file=target), clock=FixedClock(NOW))
    assert os.stat(target).st_mode & 0o777 == 0o640 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("name", ["crash.jsonl", "crash.jsonl.gz"])
def test_crash_between_fsync_and_delete_leaves_copies_that_readers_dedupe(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A run killed after its batch was fsynced but before the delete: the next run archives the same
    incidents again, so the file holds identical copies; read_archive (given a str path) yields each once."""
    import parapet.evidence.archive as archive

    groups = _seed(engine)
    target = tmp_path / name
    real_delete = archive.delete_batch

    def killed(*_args: object, **_kwargs: object) -> list[int]:
        raise KeyboardInterrupt  # the process dies here: the batch is on disk, nothing is deleted

    monkeypatch.setattr(archive, "delete_batch", killed)
    with pytest.raises(KeyboardInterrupt):
        run_archive(engine, ArchiveOptions(archive_file=target, batch_size=2), clock=FixedClock(NOW))
    monkeypatch.setattr(archive, "delete_batch", real_delete)
    first_copies = [json.loads(line) for line in _plain_lines(target)]
    # one batch on SQLite; on PostgreSQL the next batch is written while the first one's delete runs
    assert 2 <= len(first_copies) <= 4 and ids_in_db(engine) >= set(groups["old_resolved"])

    result = run_archive(engine, ArchiveOptions(archive_file=target, batch_size=2), clock=FixedClock(NOW))
    assert result.archived == 5
    lines = [json.loads(line) for line in _plain_lines(target)]
    assert len(lines) == 5 + len(first_copies), "the incidents of the killed run stand in the file twice"
    docs = list(read_archive(str(target)))
    ids = [d["incident"]["id"] for d in docs]
    assert sorted(ids) == sorted(groups["old_resolved"]) and len(ids) == len(set(ids))
    by_id = {d["incident"]["id"]: d for d in docs}
    for copy in first_copies:
        assert by_id[copy["incident"]["id"]] == copy, "the copies are identical"


def test_read_archive_keeps_the_last_line_of_an_id(tmp_path: Path) -> None:
    target = tmp_path / "a.jsonl"
    rows = [{"incident": {"id": 1, "version": 1}}, {"incident": {"id": 2, "version": 1}}]
    rows.append({"incident": {"id": 1, "version": 3}})
    target.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"incident": {"id": 3')  # a torn tail
    assert list(read_archive(str(target))) == [rows[1], rows[2]]


def _plain_lines(path: Path) -> list[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as handle:  # type: ignore[operator]
        return [line for line in handle if line.strip()]
