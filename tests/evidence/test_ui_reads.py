"""The store's reads for the operator UI, on SQLite and PostgreSQL: capped counts, facets, timeline
pages (keyset over (at, id), ties included), entries since one, suspect changes; and the retrospective."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from parapet.evidence import Alert, InvalidQuery, Store
from parapet.evidence import store as store_module
from parapet.evidence.retrospective import duration, md, render
from tests.evidence.helpers import NOW, FixedClock


def _open(store: Store, key: str, **kw: str) -> int:
    alert = Alert(correlation_key=key, alert_name="A", severity=kw.pop("severity", "critical"), title=key, **kw)
    return store.open_or_touch(alert).incident.id


def test_counts_are_capped(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(engine, clock=FixedClock(NOW))
    for i in range(5):
        _open(store, f"k{i}", service="a" if i < 3 else "b", severity="warning" if i % 2 else "critical")
    store.resolve(1, actor="bob")
    counts = store.queue_counts()
    assert (counts["open"].count, counts["resolved"].count, counts["acknowledged"].count) == (4, 1, 0)
    assert store.queue_counts(service="a")["open"].count == 2
    assert store.queue_counts(service="a", severity="critical")["open"].count == 1
    monkeypatch.setattr(store_module, "COUNT_CAP", 3)
    capped = store.queue_counts()["open"]
    assert (capped.count, capped.capped) == (3, True)
    assert store.queue_facets() == (["a", "b"], ["critical", "warning"])


def test_timeline_pages_cover_every_entry_once_with_ties(engine: Engine) -> None:
    clock = FixedClock(NOW)
    store = Store(engine, clock=clock)
    ident = _open(store, "k")
    for i in range(23):
        if i % 3 == 0:
            clock.at += timedelta(seconds=1)  # the others share a timestamp: the id breaks the tie
        store.add_note(ident, actor="rita", text=f"n{i}")
    seen, cursor, pages = [], None, 0
    while True:
        page = store.timeline_page(ident, limit=5, before=cursor)
        assert page.total == 24 and page.newest_id == store.timeline(ident)[-1].id
        seen += [e.id for e in page.items]
        pages += 1
        cursor = page.older_cursor
        if cursor is None:
            break
    assert pages == 5 and seen == [e.id for e in reversed(store.timeline(ident))]
    assert [e.message for e in store.timeline_after(ident, seen[3])] == ["n20", "n21", "n22"]
    with pytest.raises(InvalidQuery, match="invalid timeline cursor"):
        store.timeline_page(ident, before="bm90IGpzb24")
    with pytest.raises(InvalidQuery, match="out of range"):
        store.timeline_page(ident, limit=0)


def test_suspect_changes_are_the_hour_before_opening(engine: Engine) -> None:
    clock = FixedClock(NOW)
    store = Store(engine, clock=clock)
    for minutes, service, message in [
        (61, "api", "too early"),
        (60, "api", "exactly an hour"),
        (5, None, "global flag"),
        (5, "other", "another service"),
        (-1, "api", "after opening"),
    ]:
        store.record_system_event(
            "deploy", service=service, message=message, occurred_at=NOW - timedelta(minutes=minutes)
        )
    incident = store.get(_open(store, "k", service="api"))
    assert [c.message for c in store.changes_before(incident)] == ["global flag", "exactly an hour"]


def test_retrospective_durations_survive_a_reopen(engine: Engine) -> None:
    clock = FixedClock(NOW)
    store = Store(engine, clock=clock)
    ident = _open(store, "k", service="api")
    clock.at = NOW + timedelta(minutes=3, seconds=5)
    store.acknowledge(ident, actor="rita")
    clock.at = NOW + timedelta(minutes=30)
    store.resolve(ident, actor="system:alertmanager")
    clock.at = NOW + timedelta(minutes=40)
    store.reopen(ident, actor="rita")
    active = render(store.get(ident), store.timeline(ident))
    assert "**Time to acknowledge:** 3m 05s" in active and "**Time to resolve:** not resolved" in active
    clock.at = NOW + timedelta(hours=2, minutes=1)
    store.resolve(ident, actor="rita", message="fixed | for real\nsecond line")
    text = render(store.get(ident), store.timeline(ident))
    assert "**Time to resolve:** 2h 01m 00s" in text
    assert (
        "| system:alertmanager | system | opened, resolved |" in text
        and "| rita | person | acknowledged, reopened, resolved |" in text
    )
    assert "fixed \\| for real second line" in text  # one line, the pipe escaped: the table holds


def test_markdown_helpers() -> None:
    assert md("<b>[x](javascript:1)</b>\n*") == "\\<b\\>\\[x\\]\\(javascript:1\\)\\</b\\> \\*"
    assert [duration(timedelta(seconds=s)) for s in (0, 59, 61, 3600, 90061)] == [
        "0s",
        "59s",
        "1m 01s",
        "1h 00m 00s",
        "1d 01h 01m",
    ]
