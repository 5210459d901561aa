"""`parapet archive` reads `retention:` and `database:` from the spec (``--spec``, else ./parapet.yaml):
command-line flags (and PARAPET_DATABASE_URL) win, a bad value is a spec error at its file:line:col with
a hint and exit 3, and a password in the spec's URL is never printed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from parapet.evidence import Store
from parapet.spec import load_spec
from parapet.spec.model import Retention
from tests.evidence.conftest import Database
from tests.evidence.helpers import bulk_seed, ids_in_db

SPEC = """\
version: parapet/v1
service: api
slos:
  - name: availability
    objective: 99.9
    alerting:
      runbook_url: https://runbooks.example.com/availability
    sli:
      events:
        error_query: sum(rate(http_requests_total{{code=~"5.."}}[{{{{window}}}}]))
        total_query: sum(rate(http_requests_total[{{{{window}}}}]))
{extra}"""


def write_spec(path: Path, extra: str = "") -> Path:
    path.write_text(SPEC.format(extra=extra))
    return path


@pytest.fixture
def seeded(database: Database, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> tuple[Database, Engine, list[int]]:
    """Seven incidents resolved 50 days ago (inside the default 90 days), two system events 3 days old."""
    now = datetime.now(UTC)
    ids = bulk_seed(engine, 7, resolved_before=now - timedelta(days=50))
    store = Store(engine)
    for _ in range(2):
        store.record_system_event("deploy", service="api", occurred_at=now - timedelta(days=3))
    monkeypatch.setenv("PARAPET_DATABASE_URL", database.url)
    return database, engine, ids


def _summary(result) -> dict[str, object]:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    body: dict[str, object] = json.loads(result.stdout)
    return body


def test_retention_defaults() -> None:
    spec = load_spec("parapet.yaml", SPEC.format(extra=""))
    assert spec.retention == Retention(incidents=timedelta(days=90), system_events=timedelta(days=7))
    assert spec.database is None
    spec = load_spec("parapet.yaml", SPEC.format(extra="retention:\n  incidents: 2w\n"))
    assert spec.retention == Retention(incidents=timedelta(weeks=2), system_events=timedelta(days=7))


def test_spec_retention_is_the_default(cli, seeded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _db, engine, ids = seeded
    spec = write_spec(tmp_path / "ops.yaml", "retention:\n  incidents: 30d\n  system_events: 1d\n")
    body = _summary(cli("archive", "--spec", str(spec), "--dry-run", "--format", "json"))
    assert (body["archived"], body["events_pruned"]) == (7, 2)
    cutoff = datetime.fromisoformat(str(body["cutoff"]))
    assert abs(cutoff - (datetime.now(UTC) - timedelta(days=30))) < timedelta(minutes=5)
    # Command-line flags win over the spec.
    body = _summary(cli("archive", "--spec", str(spec), "--dry-run", "--format", "json", "--older-than", "60d"))
    assert (body["archived"], body["events_pruned"]) == (0, 2)
    body = _summary(cli("archive", "--spec", str(spec), "--dry-run", "--format", "json", "--events-older-than", "4d"))
    assert (body["archived"], body["events_pruned"]) == (7, 0)
    # And for real: the spec's retention decides what is archived and deleted.
    target = tmp_path / "a.jsonl"
    body = _summary(cli("archive", "--spec", str(spec), "--archive-file", str(target), "--format", "json"))
    assert (body["archived"], body["events_pruned"]) == (7, 2)
    assert ids_in_db(engine) == set()
    assert ids


def test_parapet_yaml_in_the_working_directory(cli, seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    assert _summary(cli("archive", "--dry-run", "--format", "json"))["archived"] == 0  # no spec: 90 days
    write_spec(tmp_path / "parapet.yaml", "retention: {incidents: 45d}\n")
    assert _summary(cli("archive", "--dry-run", "--format", "json"))["archived"] == 7


def test_spec_without_retention_keeps_the_defaults(cli, seeded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = write_spec(tmp_path / "parapet.yaml")
    body = _summary(cli("archive", "--spec", str(spec), "--dry-run", "--format", "json"))
    assert (body["archived"], body["events_pruned"]) == (0, 0)


def _spec_error(result, spec: Path, line: int, column: int, message: str, hint: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith(f"error: {spec}:{line}:{column}:"), lines[0]
    assert message in lines[0], lines[0]
    assert lines[1].startswith("hint: ") and hint in lines[1], lines[1]
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("extra", "line", "column", "message", "hint"),
    [
        ("retention:\n  incidents: 90 days\n", 13, 14, "retention.incidents: '90 days' is not a duration", "90d"),
        ("retention:\n  system_events: 0d\n", 13, 18, "retention.system_events: '0d' is not a duration", "2w"),
        ("retention:\n  incidents: 90\n", 13, 14, "retention.incidents: '90' is not a duration", "a unit"),
        ("retention:\n  incident: 30d\n", 13, 3, "unknown key 'incident'", "did you mean 'incidents'"),
        ("retention: 90d\n", 12, 12, "got the string '90d'", "key: value"),
        ("database:\n  url: mysql://u:s3cr3t-pw@db/x\n", 13, 8, "unsupported database 'mysql'", "postgresql://"),
        ("database:\n  uri: sqlite:///x.db\n", 13, 3, "unknown key 'uri'", "did you mean 'url'"),
    ],
)
def test_bad_spec_values(
    cli, seeded, tmp_path: Path, extra: str, line: int, column: int, message: str, hint: str
) -> None:  # type: ignore[no-untyped-def]
    _db, engine, ids = seeded
    spec = write_spec(tmp_path / "parapet.yaml", extra)
    result = cli("archive", "--spec", str(spec), "--archive-file", str(tmp_path / "a.jsonl"))
    _spec_error(result, spec, line, column, message, hint)
    assert "s3cr3t-pw" not in result.output
    assert ids_in_db(engine) == set(ids)
    assert not (tmp_path / "a.jsonl").exists()


def test_named_spec_must_exist(cli, seeded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _db, engine, ids = seeded
    result = cli("archive", "--spec", str(tmp_path / "missing.yaml"), "--older-than", "1d", "--dry-run")
    assert result.exit_code == 3 and "spec file not found" in result.stderr
    assert ids_in_db(engine) == set(ids)


def test_database_url_from_the_spec(
    cli, database: Database, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    ids = bulk_seed(engine, 3, resolved_before=datetime.now(UTC) - timedelta(days=100))
    monkeypatch.delenv("PARAPET_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path / "parapet.yaml", f"database:\n  url: '{database.url}'\n")
    body = _summary(cli("archive", "--dry-run", "--format", "json"))
    assert body["archived"] == 3
    # PARAPET_DATABASE_URL (and --database-url) win over the spec.
    other = f"sqlite:///{tmp_path / 'other.db'}"
    monkeypatch.setenv("PARAPET_DATABASE_URL", other)
    result = cli("archive", "--dry-run", "--format", "json")
    assert result.exit_code == 3 and "the evidence spine is not migrated in sqlite+pysqlite:///" in result.stderr
    monkeypatch.delenv("PARAPET_DATABASE_URL")
    result = cli("archive", "--dry-run", "--format", "json", "--database-url", other)
    assert result.exit_code == 3 and "other.db" in result.stderr
    assert ids_in_db(engine) == set(ids)


def test_spec_password_is_never_printed(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("PARAPET_DATABASE_URL", raising=False)
    spec = write_spec(tmp_path / "parapet.yaml", "database:\n  url: postgresql://admin:s3cr3t-pw@127.0.0.1:1/test\n")
    result = cli("archive", "--spec", str(spec), "--archive-file", str(tmp_path / "a.jsonl"))
    assert result.exit_code == 3, result.output
    assert "cannot connect to postgresql+psycopg://admin:***@127.0.0.1:1/test" in result.stderr
    assert "s3cr3t-pw" not in result.output
    assert "s3cr3t-pw" not in repr(load_spec(spec))
