"""Seeding incident histories for the archive tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from parapet.evidence import Alert, Store
from parapet.evidence.schema import action_claims, incidents, system_events, timeline_entries, tool_audits

NOW = datetime(2026, 6, 1, tzinfo=UTC)


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def seeded_store(engine: Engine, at: datetime = NOW) -> tuple[Store, FixedClock]:
    clock = FixedClock(at)
    return Store(engine, clock=clock), clock


def make_incident(
    store: Store, clock: FixedClock, key: str, *, state: str, days_ago: float, rich: bool = True, now: datetime = NOW
) -> int:
    """An incident opened ``days_ago + 1`` days ago that reached ``state`` ``days_ago`` days ago."""
    clock.at = now - timedelta(days=days_ago + 1)
    inc = store.open_or_touch(
        Alert(correlation_key=key, alert_name="A", severity="critical", title=f"{key} fired", labels={"k": key})
    ).incident
    if rich:
        store.add_note(inc.id, actor="alice", text=f"note on {key}")
        store.record_action(
            inc.id,
            tool="restart",
            action_key="step-1",
            actor="system:runbook",
            parameters={"key": key},
            outcome="succeeded",
            started_at=clock.at,
            finished_at=clock.at,
        )
        store.claim_action(inc.id, action_kind="runbook", action_key="restart", claimed_by="node-a")
    clock.at = now - timedelta(days=days_ago)
    if state == "acknowledged":
        store.acknowledge(inc.id, actor="bob")
    elif state == "resolved":
        store.resolve(inc.id, actor="bob")
    clock.at = now
    return inc.id


def ids_in_db(engine: Engine) -> set[int]:
    with engine.connect() as conn:
        return {int(i) for i in conn.execute(select(incidents.c.id)).scalars()}


def states_in_db(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return {int(r.id): str(r.state) for r in conn.execute(select(incidents.c.id, incidents.c.state))}


def child_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (timeline_entries, tool_audits, action_claims, system_events)
        }


def orphans(engine: Engine) -> int:
    """Children whose incident is gone: must always be zero."""
    with engine.connect() as conn:
        total = 0
        for t in (timeline_entries, tool_audits, action_claims):
            total += int(
                conn.execute(
                    select(func.count()).select_from(t).where(t.c.incident_id.not_in(select(incidents.c.id)))
                ).scalar_one()
            )
        return total


def bulk_seed(engine: Engine, count: int, *, resolved_before: datetime, entries: int = 2, start: int = 0) -> list[int]:
    """``count`` resolved incidents, each with ``entries`` timeline entries, inserted many rows at a time."""
    from sqlalchemy import insert

    ids: list[int] = []
    chunk = 500
    for base in range(start, start + count, chunk):
        n = min(chunk, start + count - base)
        rows = []
        for i in range(base, base + n):
            at = resolved_before - timedelta(minutes=i + 1)
            rows.append(
                {
                    "correlation_key": f"bulk/{i}",
                    "alert_name": "Bulk",
                    "severity": "warning",
                    "severity_rank": 30,
                    "state": "resolved",
                    "title": f"bulk {i}",
                    "labels": {"i": str(i)},
                    "annotations": {},
                    "opened_at": at - timedelta(hours=1),
                    "opened_by": "system:alertmanager",
                    "resolved_at": at,
                    "resolved_by": "bob",
                    "last_seen_at": at,
                    "occurrence_count": 1,
                    "updated_at": at,
                    "version": 2,
                }
            )
        with engine.begin() as conn:
            new_ids = [int(r) for r in conn.execute(insert(incidents).returning(incidents.c.id), rows).scalars()]
            if not entries:
                ids.extend(new_ids)
                continue
            conn.execute(
                insert(timeline_entries),
                [
                    {"incident_id": i, "kind": kind, "actor": "bob", "at": NOW, "message": None, "data": {}}
                    for i in new_ids
                    for kind in ("opened", "resolved", "note", "note")[:entries]
                ],
            )
        ids.extend(new_ids)
    return ids
