"""Escalation on real databases (a SQLite file, a private PostgreSQL schema), with a spec loaded from text and
the subscriber configured for it; ``chain_of`` and ``entries`` read what a test asserts on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from parapet.escalation import install
from parapet.evidence import Store
from parapet.evidence.schema import escalations, jobs, timeline_entries
from parapet.spec import load_spec
from parapet.spec.model import Spec
from tests.evidence.conftest import Database, postgres_db, sqlite_db  # noqa: F401
from tests.spec.test_spec_errors import GOOD_SLO, HEAD
from tests.web.helpers import Clock
from tests.web.test_browser import browser  # noqa: F401  (the Chromium fixture of the UI tests)

POLICIES = """\
escalation:
  policies:
    - name: payments
      match: {service: checkout}
      tiers:
        - {after: 0s, notify: [oncall]}
        - {after: 10s, notify: [lead, oncall]}
        - {after: 20s, notify: [cto]}
      repeat: {every: 10s, times: 1}
    - name: default
      match: {severity: [critical, page]}
      tiers:
        - {after: 5s, notify: [oncall]}
"""


def load(tmp_path: Path, escalation: str = POLICIES) -> Spec:
    path = tmp_path / "parapet.yaml"
    path.write_text(HEAD + GOOD_SLO + escalation)
    return load_spec(path)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Database:
    db: Database = request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "postgres_db")
    return db


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def spec(tmp_path: Path) -> Iterator[Spec]:
    loaded = load(tmp_path)
    install(loaded)
    yield loaded
    install(None)


@pytest.fixture
def store(database: Database, clock: Clock, spec: Spec) -> Iterator[Store]:
    engine = database.create_all()
    try:
        yield Store(engine, clock=clock)
    finally:
        engine.dispose()


def chain_of(engine: Engine, incident_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(escalations).where(escalations.c.incident_id == incident_id)).first()


def entries(engine: Engine, incident_id: int, kind: str = "escalated") -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(timeline_entries)
                .where(timeline_entries.c.incident_id == incident_id, timeline_entries.c.kind == kind)
                .order_by(timeline_entries.c.id)
            )
        )


def jobs_of(engine: Engine, kind: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(jobs).where(jobs.c.kind == kind).order_by(jobs.c.id)))
