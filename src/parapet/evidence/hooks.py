"""Incident change hooks: whatever writes a timeline entry tells the subscribers, in the same transaction.

Every incident state change and timeline entry, wherever it is written (``Store``'s commands, the intake's
bulk inserts, the reconciler and staleness loops), ends with

    hooks.emit(conn, changes)          # one Change per timeline entry, inside the writer's transaction

and every subscriber runs then, on that connection:

    hooks.subscribe("escalation", fn)  # fn(conn, changes) -> None; idempotent by name (a second call replaces)

A subscriber only writes rows (enqueue a job with ``parapet.work.enqueue``, update its own tables), so what it
writes commits with the change that caused it, or not at all: the outbox. It must not call out of the process
(no HTTP, no mail): that is what the jobs it enqueues are for. An exception it raises rolls the change back
(the webhook answers 503 and Alertmanager retries; an operator sees the error), so a subscriber that can fail
on bad configuration checks that configuration when it is registered, not here.

Subscribers are registered by the runtime when it builds its settings (``create_app``, the worker), reading the
spec; one that finds nothing configured does nothing. ``write_entries`` inserts timeline rows and emits their
changes in one call, for writers that have rows rather than a ``Store``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from parapet.evidence.schema import timeline_entries


@dataclass(frozen=True)
class Change:
    """One timeline entry as subscribers see it: ``kind`` is the entry's kind ("opened", "acknowledged",
    "resolved", "reopened", "note", "instance_added", ...), ``data`` its data."""

    incident_id: int
    kind: str
    actor: str
    at: datetime
    entry_id: int | None
    data: Mapping[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Connection, Sequence[Change]], None]

_lock = threading.Lock()
_subscribers: dict[str, Subscriber] = {}


def subscribe(name: str, fn: Subscriber) -> None:
    """Register ``fn`` under ``name``; registering the same name again replaces it (the runtime may build its
    settings more than once: an app per test, a reload)."""
    with _lock:
        _subscribers[name] = fn


def unsubscribe(name: str) -> None:
    """Remove the subscriber ``name`` (nothing when there is none)."""
    with _lock:
        _subscribers.pop(name, None)


def subscribers() -> dict[str, Subscriber]:
    """A copy of the registered subscribers, by name."""
    with _lock:
        return dict(_subscribers)


def emit(conn: Connection, changes: Sequence[Change]) -> None:
    """Run every subscriber on ``changes``, in the caller's transaction (``conn``), in registration order.

    An exception propagates: the caller's transaction rolls back, and the change with it."""
    if not changes:
        return
    for fn in subscribers().values():
        fn(conn, changes)


_INSERT_ENTRIES = insert(timeline_entries).returning(timeline_entries.c.id, sort_by_parameter_order=True)


def write_entries(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Change]:
    """Insert timeline rows (dicts with incident_id, kind, actor, at, message, data) and emit their changes."""
    if not rows:
        return []
    ids = list(conn.execute(_INSERT_ENTRIES, [dict(r) for r in rows]).scalars())
    changes = [
        Change(int(r["incident_id"]), str(r["kind"]), str(r["actor"]), r["at"], int(i), dict(r.get("data") or {}))
        for r, i in zip(rows, ids, strict=True)
    ]
    emit(conn, changes)
    return changes
