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

from parapet.evidence.archive import selection_query
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
