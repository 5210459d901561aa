"""The queue's keyset paging for every set of states, on real SQLite and PostgreSQL: a cursor after the
first page pages by a state range when the states left are contiguous (so PostgreSQL positions the index
scan at the cursor) and by the list otherwise; either way every incident shows up once, in order."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql

from parapet.evidence import Alert, Store
from parapet.evidence.schema import STATES, incidents
from parapet.evidence.store import Incident, encode_cursor, queue_query


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def _seed(engine: Engine) -> Store:
    store = Store(engine, clock=Clock())
    severities = ["critical", "warning", "info", "page", "weird"]
    for i in range(41):
        service = f"svc{i % 2}"
        inc = store.open_or_touch(
            Alert(correlation_key=f"k{i}", alert_name="A", severity=severities[i % 5], title="t", service=service)
        ).incident
        if i % 3 == 1:
            store.acknowledge(inc.id, actor="a")
        elif i % 3 == 2:
            store.resolve(inc.id, actor="a")
    return store


def _expected(engine: Engine, states: tuple[str, ...], service: str | None) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(select(incidents)).all()
    chosen = [r for r in rows if r.state in states and (service is None or r.service == service)]
    chosen.sort(key=lambda r: (r.state, r.severity_rank, r.opened_at, r.id), reverse=True)
    return [r.id for r in chosen]


def _key(incident: Incident) -> tuple[str, int, datetime, int]:
    return (incident.state, incident.severity_rank, incident.opened_at, incident.id)


STATE_SETS = [c for n in (1, 2, 3) for c in itertools.combinations(STATES, n)]


def test_every_state_set_pages_once_in_order(engine: Engine) -> None:
    store = _seed(engine)
    for states, service, limit in itertools.product(STATE_SETS, (None, "svc1"), (1, 4)):
        seen: list[int] = []
        cursor = None
        while True:
            page = store.queue(states=states, service=service, limit=limit, cursor=cursor)
            seen.extend(i.id for i in page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == _expected(engine, states, service), (states, service, limit)


def test_cursor_from_another_state_set(engine: Engine) -> None:
    """A cursor taken from a page of other states still yields only the states asked for, after it."""
    store = _seed(engine)
    resolved = store.queue(states=("resolved",), limit=100).items
    acknowledged_first = store.queue(states=("acknowledged",), limit=100).items[0]
    for states in STATE_SETS:
        for anchor in (resolved[0], acknowledged_first):
            items = store.queue(states=states, limit=100, cursor=encode_cursor(anchor)).items
            expected = [i for i in _expected(engine, states, None) if _key(store.get(i)) < _key(anchor)]
            assert [i.id for i in items] == expected, (states, anchor.state)


def _sql(states: tuple[str, ...], cursor_state: str) -> str:
    cursor = encode_cursor_of(cursor_state)
    query = queue_query(states, None, None, 30, cursor)
    return str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def encode_cursor_of(state: str) -> str:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    return encode_cursor(
        Incident(
            id=7, correlation_key="k", fingerprint=None, alert_name="A", service=None, slo=None, severity="page",
            severity_rank=50, state=state, title="t", summary=None, labels={}, annotations={}, runbook_url=None,
            trace_id=None, opened_at=when, opened_by="x", acknowledged_at=None, acknowledged_by=None,
            resolved_at=None, resolved_by=None, last_seen_at=when, occurrence_count=1, updated_at=when, version=1,
        )
    )  # fmt: skip


@pytest.mark.parametrize(
    ("states", "cursor_state", "range_from"),
    [
        (("open", "acknowledged"), "open", "acknowledged"),
        (("open", "acknowledged"), "acknowledged", "acknowledged"),
        (("open",), "open", "open"),
        (("resolved", "open", "acknowledged"), "resolved", "acknowledged"),
        (("resolved", "open"), "resolved", "open"),
        (("resolved", "open"), "open", "open"),
        (("resolved", "acknowledged"), "acknowledged", "acknowledged"),
    ],
)
def test_contiguous_states_page_by_range(states: tuple[str, ...], cursor_state: str, range_from: str) -> None:
    sql = _sql(states, cursor_state)
    assert f"parapet_incidents.state >= '{range_from}'" in sql
    assert " IN (" not in sql


@pytest.mark.parametrize(
    ("states", "cursor_state"), [(("resolved", "acknowledged"), "resolved"), (("open",), "resolved")]
)
def test_gapped_states_page_by_list(states: tuple[str, ...], cursor_state: str) -> None:
    sql = _sql(states, cursor_state)
    assert "parapet_incidents.state IN (" in sql and ">=" not in sql
