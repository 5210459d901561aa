"""The archive line is the same document on SQLite and PostgreSQL. On PostgreSQL the server renders the
lines (``postgres_batch_sql``); here they are checked against ``encode_line`` of the same incidents read
through SQLAlchemy: same keys in the same order, same values, timestamps as ``datetime.isoformat``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from parapet.evidence import Alert
from parapet.evidence.archive import ArchiveOptions, encode_line, load_documents, read_archive, run_archive
from tests.evidence.helpers import NOW, FixedClock, seeded_store

TRICKY = 'quote " backslash \\ newline \n tab \t bell \x07 unicode é 雪 🚨 slash / end'


def _seed(engine: Engine) -> list[int]:
    store, clock = seeded_store(engine)
    ids = []
    for n, micro in enumerate((0, 1, 500000, 999999)):
        clock.at = NOW - timedelta(days=120 - n, microseconds=-micro)
        inc = store.open_or_touch(
            Alert(
                correlation_key=f"{TRICKY}/{n}",
                alert_name="Tricky",
                severity="critical",
                title=TRICKY,
                summary=None if n % 2 else TRICKY,
                labels={"zeta": "1", "a": TRICKY, "mid": "x"},
                annotations={} if n % 2 else {"runbook": "https://example.com/{slo}?a=1&b=%20"},
                trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
            )
        ).incident
        store.add_note(inc.id, actor="alice é", text=TRICKY)
        store.record_action(
            inc.id,
            tool="restart",
            action_key="step-1",
            actor="system:runbook",
            parameters={"nested": {"list": [1, 2.5, None, True, "s"], "deep": {"k": TRICKY}}, "n": -3},
            outcome="failed",
            started_at=clock.at,
            finished_at=None if n % 2 else clock.at + timedelta(seconds=1, microseconds=7),
            error=TRICKY,
        )
        store.claim_action(inc.id, action_kind="runbook", action_key=TRICKY, claimed_by="node-a")
        store.acknowledge(inc.id, actor="bob")
        clock.at += timedelta(minutes=5)
        store.resolve(inc.id, actor="bob", message=TRICKY)
        ids.append(inc.id)
    return ids


def _key_orders(value: Any, path: str = "") -> dict[str, list[str]]:
    """The key order of every object outside JSON columns' own values."""
    out: dict[str, list[str]] = {}
    if isinstance(value, dict):
        out[path] = list(value)
        for key, inner in value.items():
            if key not in ("labels", "annotations", "data", "parameters"):
                out.update(_key_orders(inner, f"{path}.{key}"))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            out.update(_key_orders(inner, f"{path}[{i}]"))
    return out


def test_archive_lines_match_encode_line(engine: Engine, tmp_path: Path) -> None:
    ids = _seed(engine)
    with engine.connect() as conn:
        docs, _versions = load_documents(conn, ids)
    expected = {d["incident"]["id"]: json.loads(encode_line(d)) for d in docs}
    target = tmp_path / "a.jsonl"
    result = run_archive(engine, ArchiveOptions(archive_file=target, batch_size=3), clock=FixedClock(NOW))
    assert result.archived == len(ids) == 4
    lines = target.read_bytes().splitlines()
    assert len(lines) == 4
    got = {d["incident"]["id"]: d for d in read_archive(target)}
    assert got == expected
    for line in lines:
        doc = json.loads(line)
        assert _key_orders(doc) == _key_orders(expected[doc["incident"]["id"]])
        assert b"\n" not in line and b"\t" not in line
    whole = {d["incident"]["opened_at"][19:] for d in got.values()}
    assert whole == {"+00:00", ".000001+00:00", ".500000+00:00", ".999999+00:00"}
    claims = [c for d in got.values() for c in d["action_claims"]]
    assert all(c["action_key"] == TRICKY for c in claims) and len(claims) == 4
