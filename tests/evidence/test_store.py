"""The store and operator API on real SQLite and PostgreSQL: one transaction per command, refusals that
change nothing, dedup by correlation key, keyset paging."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from parapet.evidence import (
    ActiveIncidentExists,
    Alert,
    IllegalTransition,
    IncidentNotFound,
    InvalidQuery,
    StaleVersion,
    Store,
)
from parapet.evidence.schema import action_claims, incidents, timeline_entries, tool_audits
from parapet.evidence.store import QUEUE_MAX_LIMIT, encode_cursor, severity_rank
from tests.evidence.conftest import Database


class Clock:
    """A clock the test moves: every reading is one second later, so timeline order is unambiguous."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine, clock=Clock())


def alert(key: str = "api/HighErrorRate", severity: str = "critical", service: str | None = "api") -> Alert:
    return Alert(
        correlation_key=key,
        alert_name=key.rsplit("/", 1)[-1],
        severity=severity,
        title=f"{key} is firing",
        fingerprint="abc123",
        service=service,
        slo="availability",
        summary="5xx above budget",
        labels={"service": service or "", "severity": severity},
        annotations={"runbook_url": "https://runbooks.example.com/api"},
        runbook_url="https://runbooks.example.com/api",
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
    )


def snapshot(engine: Engine) -> tuple[list[tuple[object, ...]], int, int, int]:
    """Everything a refused command must leave as it was."""
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(select(incidents).order_by(incidents.c.id))]
        counts = [
            int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (timeline_entries, tool_audits, action_claims)
        ]
    return rows, counts[0], counts[1], counts[2]


def test_open_then_touch(store: Store) -> None:
    first = store.open_or_touch(alert())
    assert first.created
    inc = first.incident
    assert (inc.state, inc.version, inc.occurrence_count, inc.severity_rank) == ("open", 1, 1, 50)
    assert inc.labels == {"service": "api", "severity": "critical"}
    assert inc.opened_at.tzinfo is not None
    second = store.open_or_touch(alert())
    assert not second.created
    assert second.incident.id == inc.id
    assert second.incident.occurrence_count == 2
    assert second.incident.last_seen_at > inc.last_seen_at
    assert second.incident.version == 1, "a touch must not invalidate an operator's view"
    assert [e.kind for e in store.timeline(inc.id)] == ["opened"]
    other = store.open_or_touch(alert("db/ReplicationLag"))
    assert other.created and other.incident.id != inc.id


def test_lifecycle_writes_timeline(store: Store) -> None:
    inc = store.open_or_touch(alert()).incident
    acked = store.acknowledge(inc.id, actor="alice", expected_version=1, message="looking")
    assert (acked.state, acked.acknowledged_by, acked.version) == ("acknowledged", "alice", 2)
    resolved = store.resolve(inc.id, actor="bob", expected_version=2)
    assert (resolved.state, resolved.resolved_by, resolved.version) == ("resolved", "bob", 3)
    assert resolved.resolved_at is not None
    reopened = store.reopen(inc.id, actor="carol")
    assert (reopened.state, reopened.resolved_at, reopened.acknowledged_by) == ("open", None, None)
    note = store.add_note(inc.id, actor="carol", text="flapping again")
    assert note.message == "flapping again"
    entries = store.timeline(inc.id)
    assert [(e.kind, e.actor) for e in entries] == [
        ("opened", "system:alertmanager"),
        ("acknowledged", "alice"),
        ("resolved", "bob"),
        ("reopened", "carol"),
        ("note", "carol"),
    ]
    assert entries[1].message == "looking"
    assert entries[2].data == {"from": "open|acknowledged", "to": "resolved"}
    assert store.get(inc.id).version == 5


def test_resolved_incident_is_not_touched(store: Store) -> None:
    inc = store.open_or_touch(alert()).incident
    store.resolve(inc.id, actor="bob")
    again = store.open_or_touch(alert())
    assert again.created and again.incident.id != inc.id
    with pytest.raises(ActiveIncidentExists, match=f"incident {again.incident.id} is active") as info:
        store.reopen(inc.id, actor="carol")
    assert info.value.hint
    assert store.get(inc.id).state == "resolved"


@pytest.mark.parametrize(
    ("setup", "command", "error", "message"),
    [
        ("acknowledged", "acknowledge", IllegalTransition, "it is acknowledged"),
        ("resolved", "acknowledge", IllegalTransition, "it is resolved"),
        ("resolved", "resolve", IllegalTransition, "it is resolved"),
        ("open", "reopen", IllegalTransition, "it is open"),
        ("open", "stale-ack", StaleVersion, "version 1, expected 7"),
        ("open", "stale-note", StaleVersion, "version 1, expected 0"),
        ("open", "missing", IncidentNotFound, "incident 999999 does not exist"),
        ("open", "missing-note", IncidentNotFound, "does not exist"),
        ("open", "missing-action", IncidentNotFound, "does not exist"),
    ],
)
def test_refusals_change_nothing(
    store: Store, engine: Engine, setup: str, command: str, error: type[Exception], message: str
) -> None:
    inc = store.open_or_touch(alert()).incident
    if setup == "acknowledged":
        store.acknowledge(inc.id, actor="a")
    elif setup == "resolved":
        store.resolve(inc.id, actor="a")
    before = snapshot(engine)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    actions = {
        "acknowledge": lambda: store.acknowledge(inc.id, actor="x"),
        "resolve": lambda: store.resolve(inc.id, actor="x"),
        "reopen": lambda: store.reopen(inc.id, actor="x"),
        "stale-ack": lambda: store.acknowledge(inc.id, actor="x", expected_version=7),
        "stale-note": lambda: store.add_note(inc.id, actor="x", text="t", expected_version=0),
        "missing": lambda: store.resolve(999999, actor="x"),
        "missing-note": lambda: store.add_note(999999, actor="x", text="t"),
        "missing-action": lambda: store.record_action(
            999999, tool="t", action_key="k", actor="x", parameters={}, outcome="ok", started_at=now, finished_at=now
        ),
    }
    with pytest.raises(error, match=message) as info:
        actions[command]()
    assert info.value.hint  # type: ignore[attr-defined]
    assert snapshot(engine) == before


def test_action_writes_timeline_and_audit(store: Store) -> None:
    inc = store.open_or_touch(alert()).incident
    started = datetime(2026, 1, 1, 12, tzinfo=UTC)
    audit = store.record_action(
        inc.id,
        tool="restart-workers",
        action_key="step-1",
        actor="system:runbook",
        parameters={"pool": "web", "count": 3},
        outcome="failed",
        started_at=started,
        finished_at=started + timedelta(seconds=4),
        error="timeout",
    )
    entries = store.timeline(inc.id)
    assert entries[-1].kind == "action" and entries[-1].id == audit.timeline_entry_id
    assert entries[-1].message == "restart-workers step-1: failed"
    [stored] = store.tool_audits(inc.id)
    assert stored == audit
    assert (stored.parameters, stored.error, stored.finished_at) == (
        {"pool": "web", "count": 3},
        "timeout",
        started + timedelta(seconds=4),
    )
    assert store.get(inc.id).version == 2


def test_claims_are_unique(store: Store, engine: Engine) -> None:
    inc = store.open_or_touch(alert()).incident
    assert store.claim_action(inc.id, action_kind="runbook", action_key="restart", claimed_by="node-a")
    before = snapshot(engine)
    assert not store.claim_action(inc.id, action_kind="runbook", action_key="restart", claimed_by="node-b")
    assert snapshot(engine) == before, "a lost claim leaves no trace"
    assert store.claim_action(inc.id, action_kind="runbook", action_key="scale-up", claimed_by="node-b")


def test_system_event_and_naive_time_refused(store: Store) -> None:
    assert store.record_system_event("deploy", service="api", actor="ci", data={"sha": "abc"}) > 0
    with pytest.raises(Exception, match="timezone-aware"):
        store.record_system_event("deploy", occurred_at=datetime(2026, 1, 1))


def test_concurrent_open_makes_one_incident(store: Store, engine: Engine) -> None:
    """Eight threads receive the same alert at once: one incident, eight occurrences."""
    barrier = threading.Barrier(8)
    created: list[bool] = []
    errors: list[BaseException] = []

    def receive() -> None:
        try:
            barrier.wait()
            created.append(store.open_or_touch(alert("race/Key")).created)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=receive) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(created) == [False] * 7 + [True]
    with engine.connect() as conn:
        rows = conn.execute(select(incidents.c.occurrence_count).where(incidents.c.correlation_key == "race/Key")).all()
    assert [r[0] for r in rows] == [8]


def _seed_queue(store: Store) -> None:
    severities = ["critical", "warning", "info", "page", "weird"]
    for i in range(47):
        inc = store.open_or_touch(alert(f"svc{i % 3}/Alert{i}", severities[i % 5], service=f"svc{i % 3}")).incident
        if i % 4 == 1:
            store.acknowledge(inc.id, actor="a")
        elif i % 4 == 2:
            store.resolve(inc.id, actor="a")


def _expected(store: Store, states: tuple[str, ...], service: str | None = None) -> list[int]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(incidents)).all()
    chosen = [r for r in rows if r.state in states and (service is None or r.service == service)]
    chosen.sort(key=lambda r: (r.state, r.severity_rank, r.opened_at, r.id), reverse=True)
    return [r.id for r in chosen]


@pytest.mark.parametrize("limit", [1, 7, 30])
def test_queue_keyset_pages_cover_everything_once(store: Store, limit: int) -> None:
    _seed_queue(store)
    for states, service in ((("open", "acknowledged"), None), (("resolved",), None), (("open",), "svc1")):
        seen: list[int] = []
        cursor = None
        while True:
            page = store.queue(states=states, service=service, limit=limit, cursor=cursor)
            assert len(page.items) <= limit
            seen.extend(i.id for i in page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == _expected(store, states, service)
    first = store.queue().items
    assert first[0].state == "open" and first[-1].state == "acknowledged"
    assert [i.severity_rank for i in first if i.state == "open"] == sorted(
        (i.severity_rank for i in first if i.state == "open"), reverse=True
    )


def test_queue_filters_and_bounds(store: Store) -> None:
    _seed_queue(store)
    page = store.queue(severity="warning", limit=100)
    assert page.items and all(i.severity == "warning" for i in page.items)
    assert len(store.queue().items) == 30, "the default page holds 30"
    with pytest.raises(InvalidQuery, match="out of range"):
        store.queue(limit=QUEUE_MAX_LIMIT + 1)
    with pytest.raises(InvalidQuery, match="out of range"):
        store.queue(limit=0)
    with pytest.raises(InvalidQuery, match="unknown incident state"):
        store.queue(states=("closed",))
    with pytest.raises(InvalidQuery, match="invalid queue cursor"):
        store.queue(cursor="not-a-cursor")
    last = store.queue(limit=100).items[-1]
    assert store.queue(cursor=encode_cursor(last)).items == ()


def test_severity_ranks() -> None:
    assert severity_rank("Critical") > severity_rank("warning") > severity_rank("whatever") > severity_rank("info")


def test_store_on_both_backends(database: Database) -> None:
    """The fixture itself: a fresh database has no spine until create_all."""
    from parapet.evidence import SpineMissing, check_schema

    engine = database.engine()
    try:
        with pytest.raises(SpineMissing, match="missing parapet_incidents"):
            check_schema(engine)
    finally:
        engine.dispose()
