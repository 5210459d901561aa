"""On PostgreSQL, the queue and the archive selection use the indexes meant for them, with no sort and no
OFFSET, on a table large enough for the planner to prefer them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text, update
from sqlalchemy.dialects import postgresql

from parapet.evidence.archive import postgres_batch_sql, selection_query
from parapet.evidence.schema import incidents
from parapet.evidence.store import encode_cursor, queue_query
from tests.evidence.conftest import Database, postgres_schema
from tests.evidence.helpers import NOW, bulk_seed, seeded_store


@pytest.fixture(scope="module")
def big() -> Iterator[Engine]:
    with postgres_schema() as db:
        yield from _seed(db)


def _seed(db: Database) -> Iterator[Engine]:
    engine = db.create_all()
    bulk_seed(engine, 30_000, resolved_before=NOW - timedelta(days=1), entries=0)
    with engine.begin() as conn:
        # 3% active, spread over services and severities, like a real queue.
        conn.execute(
            update(incidents)
            .where(incidents.c.id % 33 == 0)
            .values(state="open", resolved_at=None, severity_rank=incidents.c.id % 5 * 10, service="api")
        )
        conn.execute(update(incidents).where(incidents.c.id % 66 == 0).values(state="acknowledged"))
        conn.execute(text("ANALYZE"))
    try:
        yield engine
    finally:
        engine.dispose()


def plan(engine: Engine, query: Any) -> dict[str, Any]:
    compiled = query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        raw = conn.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}")).scalar_one()
    doc = raw if isinstance(raw, list) else json.loads(raw)
    return dict(doc[0]["Plan"])


def nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from nodes(child)


def assert_index_only_order(node: dict[str, Any], index: str) -> None:
    kinds = [(n["Node Type"], n.get("Index Name")) for n in nodes(node)]
    assert any(name == index for _kind, name in kinds), kinds
    assert not any(kind in ("Sort", "Incremental Sort", "Seq Scan") for kind, _ in kinds), kinds


def test_queue_uses_queue_index(big: Engine) -> None:
    first = plan(big, queue_query(("open", "acknowledged"), None, None, 30, None))
    assert_index_only_order(first, "ix_parapet_incidents_queue")
    store, _ = seeded_store(big)
    page = store.queue(limit=100)
    deep = plan(big, queue_query(("open", "acknowledged"), None, None, 30, encode_cursor(page.items[-1])))
    assert_index_only_order(deep, "ix_parapet_incidents_queue")
    assert "Index Cond" in json.dumps(deep), "the keyset condition must be an index condition, not a filter"


def test_service_view_uses_service_index(big: Engine) -> None:
    assert_index_only_order(plan(big, queue_query(("open",), None, "api", 30, None)), "ix_parapet_incidents_service")


def test_archive_selection_uses_archive_index(big: Engine) -> None:
    cutoff = NOW - timedelta(days=5)
    assert_index_only_order(plan(big, selection_query(cutoff, None, 500)), "ix_parapet_incidents_archive")
    with big.connect() as conn:
        row = conn.execute(selection_query(cutoff, None, 500)).all()[-1]
    deep = plan(big, selection_query(cutoff, (row.resolved_at, row.id), 500))
    assert_index_only_order(deep, "ix_parapet_incidents_archive")


def test_deep_queue_page_starts_at_the_cursor(big: Engine) -> None:
    """A cursor in the acknowledged part of the queue: the scan is positioned by the row comparison, not
    by a list of states (with ``state IN (…)`` PostgreSQL would walk every open incident to get there)."""
    store, _ = seeded_store(big)
    page = store.queue(limit=100)
    while page.items[-1].state != "acknowledged":
        assert page.next_cursor is not None
        page = store.queue(limit=100, cursor=page.next_cursor)
    deep = plan(big, queue_query(("open", "acknowledged"), None, None, 30, encode_cursor(page.items[-1])))
    assert_index_only_order(deep, "ix_parapet_incidents_queue")
    scan = next(n for n in nodes(deep) if n.get("Index Name") == "ix_parapet_incidents_queue")
    assert "ROW(" in scan["Index Cond"] and "ANY" not in scan["Index Cond"], scan["Index Cond"]
    service = plan(big, queue_query(("open",), None, "api", 30, encode_cursor(store.queue(states=("open",)).items[-1])))
    assert_index_only_order(service, "ix_parapet_incidents_service")


def test_postgres_archive_batch_uses_archive_index(big: Engine) -> None:
    """The statement that reads and renders a batch on PostgreSQL walks the archive index, with no sort."""
    cutoff = NOW - timedelta(days=5)
    with big.connect() as conn:
        row = conn.execute(selection_query(cutoff, None, 500)).all()[-1]
        for sql, params in (
            (postgres_batch_sql(keyset=False), {"cutoff": cutoff, "limit": 500}),
            (
                postgres_batch_sql(keyset=True),
                {"cutoff": cutoff, "limit": 500, "after_at": row.resolved_at, "after_id": row.id},
            ),
        ):
            raw = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql, params).scalar_one()
            top = dict((raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"])
            on_incidents = [n for n in nodes(top) if n.get("Relation Name") == "parapet_incidents"]
            assert [n.get("Index Name") for n in on_incidents] == ["ix_parapet_incidents_archive"], on_incidents
            assert not any(
                n["Node Type"] in ("Sort", "Incremental Sort") for n in nodes(top) if "Subplan Name" not in n
            )
