"""Escalation in the store, on SQLite and PostgreSQL: chains start with the incident, steps run as jobs in
order and exactly once, acknowledge/resolve/reopen fence them, and "escalate now" jumps a tier."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from parapet.escalation import (
    CannotEscalate,
    NoEscalation,
    StaleEscalation,
    escalate_now,
    execute_step,
    status,
    still_current,
)
from parapet.escalation.steps import run_step  # noqa: F401  (registers the "escalate" handler)
from parapet.evidence import Alert, Store, hooks
from parapet.evidence.schema import JOB_DONE, JOB_PENDING, STATE_ACKNOWLEDGED, incidents
from parapet.work import Worker
from tests.escalation.conftest import chain_of, entries, jobs_of
from tests.web.helpers import NOW, Clock


def open_incident(store: Store, service: str = "checkout", severity: str = "critical", key: str = "k1") -> int:
    alert = Alert(correlation_key=key, alert_name="Burn", severity=severity, title="burning", service=service)
    return store.open_or_touch(alert).incident.id


def worker(store: Store, clock: Clock) -> Worker:
    return Worker(store.engine, clock=clock, kinds=["escalate"], worker_id="test:1", hostname="test")


def steps(store: Store, incident_id: int) -> list[tuple[int, int, int]]:
    return [(e.data["tier"], e.data["repeat"], e.data["epoch"]) for e in entries(store.engine, incident_id)]


def test_a_chain_runs_its_tiers_and_repeat_in_order(store: Store, clock: Clock) -> None:
    incident = open_incident(store)
    row = chain_of(store.engine, incident)
    assert (row.policy, row.epoch, row.state, row.tier, row.next_tier, row.next_at) == (
        "payments",
        1,
        "active",
        -1,
        0,
        NOW,
    )
    assert [j.key for j in jobs_of(store.engine, "escalate")] == [f"{incident}:1:0:0"]
    w = worker(store, clock)
    for expected, at in [((0, 0), 0), ((1, 0), 10), ((2, 0), 20), ((2, 1), 30)]:
        clock.at = NOW + timedelta(seconds=at) - timedelta(milliseconds=1)
        assert w.run_once() == [] or True
        assert [s[:2] for s in steps(store, incident)] == [s for s in [(0, 0), (1, 0), (2, 0), (2, 1)] if s < expected]
        clock.at = NOW + timedelta(seconds=at)
        w.run_once()
        assert steps(store, incident)[-1] == (*expected, 1)
    w.run_once()
    row = chain_of(store.engine, incident)
    assert (row.state, row.tier, row.repeat, row.executed, row.next_at) == ("done", 2, 1, 4, None)
    notify = jobs_of(store.engine, "notify")
    assert [(j.payload["target"], j.payload["tier"], j.payload["epoch"]) for j in notify] == [
        ("oncall", 0, 1),
        ("lead", 1, 1),
        ("oncall", 1, 1),
        ("cto", 2, 1),
        ("cto", 2, 1),
    ]
    assert len({j.key for j in notify}) == 5 and all(j.state == JOB_PENDING for j in notify)
    first = entries(store.engine, incident)[0]
    assert first.actor == "system:parapet:escalation" and first.data["due_at"] == NOW.isoformat()
    assert first.message == "escalated to tier 0 of payments: oncall"


def test_the_first_matching_policy_is_chosen_and_no_match_means_no_chain(store: Store) -> None:
    other = open_incident(store, service="search", severity="page", key="k2")
    assert chain_of(store.engine, other).policy == "default"
    nothing = open_incident(store, service="search", severity="info", key="k3")
    assert chain_of(store.engine, nothing) is None


def test_acknowledging_fences_a_due_step(store: Store, clock: Clock) -> None:
    incident = open_incident(store)
    w = worker(store, clock)
    w.run_once()
    clock.at = NOW + timedelta(seconds=15)  # tier 1 is due
    store.acknowledge(incident, actor="rita")
    w.run_once()
    assert steps(store, incident) == [(0, 0, 1)]
    row = chain_of(store.engine, incident)
    assert (row.state, row.epoch, row.next_at) == ("stopped", 2, None)
    tier1 = next(j for j in jobs_of(store.engine, "escalate") if j.key == f"{incident}:1:1:0")
    assert tier1.state == JOB_DONE and tier1.result == {"cancelled": True}
    # a step that was already claimed runs into the fence: nothing written
    with store.engine.begin() as conn:
        outcome = execute_step(conn, incident, epoch=1, tier=1, repeat=0, now=clock.at)
    assert not outcome.ran and steps(store, incident) == [(0, 0, 1)]
    with store.engine.connect() as conn:
        assert not still_current(conn, incident, 1)  # the tier-0 notification must not page now
    assert len(jobs_of(store.engine, "notify")) == 1


def test_resolving_stops_and_reopening_starts_again_with_a_new_epoch(store: Store, clock: Clock) -> None:
    incident = open_incident(store)
    w = worker(store, clock)
    w.run_once()
    store.resolve(incident, actor="rita")
    assert chain_of(store.engine, incident).state == "stopped"
    clock.at = NOW + timedelta(minutes=5)
    store.reopen(incident, actor="rita")
    row = chain_of(store.engine, incident)
    assert (row.epoch, row.state, row.tier, row.next_tier, row.next_at, row.executed) == (
        3,
        "active",
        -1,
        0,
        clock.at,
        1,
    )
    w.run_once()
    assert steps(store, incident) == [(0, 0, 1), (0, 0, 3)]


def test_ack_committed_while_a_step_waits_for_it_fences_the_step(store: Store, clock: Clock) -> None:
    """The race, one way: the acknowledgement's transaction holds the escalation row (its hook bumped the epoch)
    when the step starts; the step waits for it and, once it commits, matches nothing."""
    incident = open_incident(store)
    result: dict[str, Any] = {}

    def step() -> None:
        with store.engine.begin() as conn:
            result["outcome"] = execute_step(conn, incident, epoch=1, tier=0, repeat=0, now=clock.at)

    with store.engine.begin() as conn:
        conn.execute(update(incidents).where(incidents.c.id == incident).values(state=STATE_ACKNOWLEDGED))
        hooks.write_entries(
            conn, [{"incident_id": incident, "kind": "acknowledged", "actor": "rita", "at": clock.at, "data": {}}]
        )
        thread = threading.Thread(target=step)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), "the step did not wait for the acknowledgement's transaction"
    thread.join(timeout=30)
    assert not result["outcome"].ran
    assert steps(store, incident) == [] and jobs_of(store.engine, "notify") == []


def test_ack_while_a_step_runs_waits_for_it_and_its_notifications_are_stale(store: Store, clock: Clock) -> None:
    """The race, the other way: the step holds the row; the acknowledgement waits for it, commits after it, and
    the notifications the step wrote carry an epoch that is no longer current, so a notifier does not page."""
    incident = open_incident(store)
    acked = threading.Event()

    def ack() -> None:
        store.acknowledge(incident, actor="rita")
        acked.set()

    with store.engine.begin() as conn:
        outcome = execute_step(conn, incident, epoch=1, tier=0, repeat=0, now=clock.at)
        thread = threading.Thread(target=ack)
        thread.start()
        time.sleep(0.5)
        assert not acked.is_set(), "the acknowledgement did not wait for the running step"
    thread.join(timeout=30)
    assert outcome.ran and acked.is_set()
    notify = jobs_of(store.engine, "notify")
    assert [j.payload["epoch"] for j in notify] == [1]
    with store.engine.connect() as conn:
        assert not still_current(conn, incident, 1)
    assert chain_of(store.engine, incident).state == "stopped"


def test_escalate_now_jumps_a_tier_and_the_chain_goes_on_from_there(store: Store, clock: Clock) -> None:
    incident = open_incident(store)
    w = worker(store, clock)
    w.run_once()
    clock.at = NOW + timedelta(seconds=2)
    with store.engine.begin() as conn:
        assert escalate_now(conn, incident, actor="rita", reason="nobody answers", now=clock.at, expected_epoch=1) == 1
    row = chain_of(store.engine, incident)
    assert (row.epoch, row.tier, row.next_tier, row.next_at) == (2, 1, 2, NOW + timedelta(seconds=20))
    last = entries(store.engine, incident)[-1]
    assert last.actor == "rita" and last.data["reason"] == "nobody answers" and last.data["tier"] == 1
    scheduled = {j.key: j.state for j in jobs_of(store.engine, "escalate")}
    assert scheduled[f"{incident}:1:1:0"] == JOB_DONE  # the old schedule was cancelled
    assert scheduled[f"{incident}:2:2:0"] == JOB_PENDING
    with pytest.raises(StaleEscalation), store.engine.begin() as conn:
        escalate_now(conn, incident, actor="rita", reason="double click", now=clock.at, expected_epoch=1)
    clock.at = NOW + timedelta(seconds=20)
    w.run_once()
    assert steps(store, incident)[-1] == (2, 0, 2)
    with store.engine.begin() as conn:  # past the last tier and its repeats: the last tier once more
        assert escalate_now(conn, incident, actor="rita", reason="again", now=clock.at) == 2
        assert escalate_now(conn, incident, actor="rita", reason="again", now=clock.at) == 2
    row = chain_of(store.engine, incident)
    assert (row.tier, row.repeat, row.state, row.next_at) == (2, 2, "done", None)
    store.acknowledge(incident, actor="rita")
    with store.engine.begin() as conn:  # an acknowledged incident can still call more people; the chain stays stopped
        assert escalate_now(conn, incident, actor="rita", reason="need the DBA", now=clock.at) == 2
    assert chain_of(store.engine, incident).state == "stopped"
    store.resolve(incident, actor="rita")
    with pytest.raises(CannotEscalate), store.engine.begin() as conn:
        escalate_now(conn, incident, actor="rita", reason="late", now=clock.at)
    quiet = open_incident(store, service="search", severity="info", key="k9")
    with pytest.raises(NoEscalation), store.engine.begin() as conn:
        escalate_now(conn, quiet, actor="rita", reason="x", now=clock.at)


def test_status_says_what_is_next_and_flags_an_overdue_step(store: Store, clock: Clock) -> None:
    incident = open_incident(store)
    with store.engine.connect() as conn:
        now = status(conn, incident, now=NOW + timedelta(seconds=10))
        late = status(conn, incident, now=NOW + timedelta(seconds=31))
        assert status(conn, 999_999, now=NOW) is None
    assert now is not None and late is not None
    assert (now.policy, now.tier, now.next_tier, now.next_at, now.overdue) == ("payments", -1, 0, NOW, False)
    assert late.overdue and late.late == timedelta(seconds=31)
    assert [t.notify for t in now.tiers] == [("oncall",), ("lead", "oncall"), ("cto",)]
    assert now.repeat_every == timedelta(seconds=10) and now.repeat_times == 1
