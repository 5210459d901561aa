"""`parapet archive` as cron runs it: JSON summary, text summary, the lock note, and bad input that
gives one `error:` line, a hint and exit 3, with nothing deleted and no password shown."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from parapet.evidence.archive import archive_lock
from tests.evidence.conftest import Database
from tests.evidence.helpers import bulk_seed, ids_in_db


@pytest.fixture
def seeded(database: Database, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> tuple[Database, Engine, list[int]]:
    ids = bulk_seed(engine, 7, resolved_before=datetime.now(UTC) - timedelta(days=100))
    monkeypatch.setenv("PARAPET_DATABASE_URL", database.url)
    return database, engine, ids


def test_json_summary(cli, seeded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _db, engine, _ids = seeded
    target = tmp_path / "a.jsonl.gz"
    result = cli("archive", "--archive-file", str(target), "--batch-size", "3", "--format", "json")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    body = json.loads(lines[0])
    assert (body["archived"], body["batches"], body["bytes"], body["dry_run"]) == (7, 3, target.stat().st_size, False)
    assert body["seconds"] >= 0 and "events_pruned" in body and "longest_delete_ms" in body
    assert ids_in_db(engine) == set()


def test_text_summary_and_dry_run(cli, seeded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _db, engine, ids = seeded
    result = cli("archive", "--dry-run", "--older-than", "30d")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("would archive 7 incident(s)")
    assert ids_in_db(engine) == set(ids)
    result = cli("archive", "--older-than", "200d", "--archive-file", str(tmp_path / "a.jsonl"))
    assert result.exit_code == 0 and result.stdout.startswith("archived 0 incident(s)")
    assert ids_in_db(engine) == set(ids)


def test_locked_run_exits_zero_with_note(cli, seeded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _db, engine, ids = seeded
    with archive_lock(engine) as held:
        assert held
        result = cli("archive", "--archive-file", str(tmp_path / "a.jsonl"), "--format", "json")
    assert result.exit_code == 0, result.output
    assert "holds the lock: nothing done" in result.stderr
    assert json.loads(result.stdout)["locked"] is False
    assert ids_in_db(engine) == set(ids)


def _one_error(result) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "ninety"], "--older-than 'ninety' is not a duration"),
        (["--older-than", "0d"], "is not a duration"),
        (["--events-older-than", "7 days"], "--events-older-than '7 days' is not a duration"),
        (["--batch-size", "0"], "--batch-size 0 is out of range"),
        ([], "--archive-file is not set"),
    ],
)
def test_bad_options(cli, seeded, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    _db, engine, ids = seeded
    result = cli("archive", *args)
    _one_error(result)
    assert message in result.stderr
    assert ids_in_db(engine) == set(ids)


@pytest.mark.parametrize("where", ["is-a-directory", "under-a-file"])
def test_unwritable_archive_path(cli, seeded, tmp_path: Path, where: str) -> None:  # type: ignore[no-untyped-def]
    _db, engine, ids = seeded
    blocker = tmp_path / "blocker"
    if where == "is-a-directory":
        blocker.mkdir()
        target = blocker
    else:
        blocker.write_text("a file")
        target = blocker / "a.jsonl"
    result = cli("archive", "--archive-file", str(target))
    _one_error(result)
    assert f"cannot write the archive file {target}" in result.stderr
    assert "nothing was deleted" in result.stderr
    assert ids_in_db(engine) == set(ids)


def test_missing_tables(cli, database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PARAPET_DATABASE_URL", database.url)
    result = cli("archive", "--archive-file", str(tmp_path / "a.jsonl"))
    _one_error(result)
    assert "the evidence spine is not migrated" in result.stderr and "parapet gen spine" in result.stderr
    assert not (tmp_path / "a.jsonl").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql://admin:s3cr3t-pw@127.0.0.1:1/test",
            "cannot connect to postgresql+psycopg://admin:***@127.0.0.1:1/test",
        ),
        (
            "postgresql://admin:s3cr3t-pw@host:notaport/test",
            "malformed database URL 'postgresql://admin:***@host:notaport/test'",
        ),
        ("mysql://admin:s3cr3t-pw@localhost/test", "unsupported database 'mysql'"),
        ("not a url at all", "malformed database URL 'not a url at all'"),
        ("postgresql://admin:s3cr3t-pw@127.0.0.1:5432", "names no database"),
    ],
)
def test_bad_database_url(cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, message: str) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PARAPET_DATABASE_URL", url)
    result = cli("archive", "--archive-file", str(tmp_path / "a.jsonl"))
    _one_error(result)
    assert message in result.stderr
    assert "s3cr3t-pw" not in result.output


def test_default_store_is_under_dot_parapet(cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("PARAPET_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    result = cli("archive", "--dry-run")
    _one_error(result)
    assert f"sqlite+pysqlite:///{tmp_path}/.parapet/parapet.db" in result.stderr
    assert (tmp_path / ".parapet").is_dir()
