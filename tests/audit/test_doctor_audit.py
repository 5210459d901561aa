"""doctor PAR305: warns when audit events have waited for a sink for more than five minutes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from parapet.audit import outbox
from parapet.evidence.db import create_engine_for
from parapet.evidence.schema import metadata
from parapet.work import enqueue
from tests.doctor.helpers import doctor, fixture, found


def test_backlog_older_than_five_minutes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARAPET_DATABASE_URL", raising=False)
    assert found(doctor(fixture("config-good"), "PAR305"), "PAR305") == []  # no store configured: nothing said
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("PARAPET_DATABASE_URL", url)
    engine = create_engine_for(url)
    metadata.create_all(engine)
    try:
        now = datetime.now(UTC)
        with engine.begin() as conn:
            enqueue(conn, outbox.KIND, "siem:parapet:timeline:1", due_at=now, payload={}, now=now)
        assert found(doctor(fixture("config-good"), "PAR305"), "PAR305") == []  # fresh: the worker has time
        with engine.begin() as conn:
            old = now - timedelta(minutes=12)
            enqueue(conn, outbox.KIND, "siem:parapet:timeline:2", due_at=old, payload={}, now=old)
        result = doctor(fixture("config-good"), "PAR305")
        assert found(result, "PAR305") == [(None, None, "warning")]
        assert result.active[0].finding.message.startswith("1 audit event(s) have waited for a sink")
    finally:
        engine.dispose()
