"""The evidence tests' real databases (SQLite file, private PostgreSQL schema), and payload builders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from parapet.evidence.store import Store
from tests.evidence.conftest import database, engine, postgres_db, sqlite_db  # noqa: F401

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)

# A one-SLO spec; tests append their own top-level keys (alertmanager:, say).
MINI_SPEC = (
    "version: parapet/v1\nservice: shop\nalerting: {runbook_url: 'https://r'}\nslos:\n  - name: a\n"
    "    objective: 99\n"
    "    sli: {events: {error_query: 'sum(rate(e[{{window}}]))', total_query: 'sum(rate(t[{{window}}]))'}}\n"
)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(engine: Engine, clock: Clock) -> Iterator[Store]:  # noqa: F811
    yield Store(engine, clock=clock)


def alert(
    name: str = "HighLatency",
    *,
    status: str = "firing",
    starts: datetime = T0,
    ends: datetime | None = None,
    fingerprint: str | None = "auto",
    annotations: dict[str, Any] | None = None,
    **labels: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": status,
        "labels": {"alertname": name, **labels},
        "annotations": annotations or {"summary": f"{name} summary"},
        "startsAt": starts.isoformat().replace("+00:00", "Z"),
        "endsAt": ends.isoformat().replace("+00:00", "Z") if ends else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
    }
    if fingerprint == "auto":
        from parapet.alerts import fingerprint as fp

        body["fingerprint"] = fp(body["labels"])
    elif fingerprint is not None:
        body["fingerprint"] = fingerprint
    return body


def payload(*alerts: dict[str, Any], group_labels: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "receiver": "parapet-shop",
        "status": "firing" if firing else "resolved",
        "groupKey": '{}:{alertname="HighLatency"}',
        "groupLabels": group_labels if group_labels is not None else {"alertname": alerts[0]["labels"]["alertname"]},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "truncatedAlerts": 0,
        "alerts": list(alerts),
        **extra,
    }
