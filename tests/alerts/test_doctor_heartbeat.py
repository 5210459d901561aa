"""doctor PAR303: warns when no process has written a worker heartbeat, or the last one is old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from parapet.alerts.worker import Worker, WorkerConfig
from parapet.evidence.db import create_engine_for
from parapet.evidence.schema import metadata
from parapet.evidence.store import Store
from tests.doctor.helpers import doctor, fixture, found


def test_heartbeat_missing_stale_and_fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARAPET_DATABASE_URL", raising=False)
    skipped = doctor(fixture("config-good"), "PAR303")
    assert found(skipped, "PAR303") == [(None, None, "info")]
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("PARAPET_DATABASE_URL", url)
    assert found(doctor(fixture("config-good"), "PAR303"), "PAR303") == []  # no store yet: PAR301's finding
    engine = create_engine_for(url)
    metadata.create_all(engine)
    try:
        none = doctor(fixture("config-good"), "PAR303")
        assert found(none, "PAR303") == [(None, None, "warning")]
        assert none.active[0].finding.message.startswith("no worker heartbeat in the store")
        old = datetime.now(UTC) - timedelta(minutes=10)
        Worker(Store(engine, clock=lambda: old), WorkerConfig(worker_id="w-old")).tick()
        stale = doctor(fixture("config-good"), "PAR303")
        assert found(stale, "PAR303") == [(None, None, "warning")]
        assert "the background loops have stopped" in stale.active[0].finding.message
        Worker(Store(engine), WorkerConfig(worker_id="w-new")).tick()
        assert found(doctor(fixture("config-good"), "PAR303"), "PAR303") == []
    finally:
        engine.dispose()
