"""The circuit breaker on a flapping alert: it fires and resolves six times in an hour; the automatic step runs
three times, the breaker trips once (a ``breaker_tripped`` entry, escalation asked to jump a tier), the rest are
skipped. A manual run afterwards needs a reason and is audited with the user as actor. The state lives in
``parapet_tool_audits``: a restart of every process in the middle changes nothing, and the breaker closes only
after a run that succeeded and a quiet period, never because time passed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from parapet.automation import jobs as automation_jobs
from parapet.automation.runs import ReasonRequired, request
from parapet.evidence import hooks
from parapet.evidence.schema import tool_audits
from parapet.evidence.store import Store
from parapet.work import Worker, registry
from tests.automation.conftest import Host, make_host, stalled
from tests.evidence.conftest import Database
from tests.web.helpers import Clock

ESCALATION = """\
escalation:
  policies:
    - name: default
      tiers:
        - {after: 0m, notify: [oncall]}
        - {after: 15m, notify: [payments-lead]}
        - {after: 30m, notify: [head-of-engineering]}
"""


@pytest.fixture
def auto_host(host: Host) -> Host:
    made = make_host(host.root.parent / "auto", auto=True)
    made.spec_path.write_text(made.spec_path.read_text() + ESCALATION)
    return made


class Node:
    """One process's view: its own engine, store, spec, catalog, subscriber and worker (a restart is a new Node)."""

    def __init__(self, database: Database, host: Host, clock: Clock) -> None:
        self.engine = database.engine()
        self.spec = host.spec()
        registry.install_subscribers(self.spec)  # as create_app and the worker do: runbooks, escalation, …
        self.store = Store(self.engine, clock=clock)
        # escalation steps, then mitigations (in that order, so the chain's tier 0 has run when a trip jumps it);
        # notifications would go to targets this test has not
        self.escalation = Worker(self.engine, settings=self.spec, clock=clock, kinds=["escalate"])
        self.worker = Worker(self.engine, settings=self.spec, clock=clock, kinds=["mitigation"])

    def fire_and_resolve(self, clock: Clock) -> int:
        incident = self.store.open_or_touch(stalled()).incident  # the intake's path: opened -> hooks -> job
        self.escalation.run_once()
        self.worker.run_once()
        clock.at += timedelta(minutes=2)
        self.store.resolve(incident.id, actor="system:alertmanager")
        return incident.id

    def stop(self) -> None:
        self.worker.close()
        self.escalation.close()
        for name in list(hooks.subscribers()):
            hooks.unsubscribe(name)
        self.engine.dispose()


def _audits(node: Node) -> list[tuple[str, str]]:
    with node.engine.connect() as conn:
        rows = conn.execute(select(tool_audits.c.actor, tool_audits.c.outcome).order_by(tool_audits.c.id)).all()
    return [(r.actor, r.outcome) for r in rows]


def _kinds(node: Node, incident_ids: list[int]) -> list[str]:
    return [e.kind for i in incident_ids for e in node.store.timeline(i)]


def test_a_flapping_alert_runs_three_times_trips_once_and_survives_restarts(
    database: Database, auto_host: Host, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RB_LEDGER", str(auto_host.ledger))
    database.create_all().dispose()
    node = Node(database, auto_host, clock)
    ids = []
    for _ in range(3):
        ids.append(node.fire_and_resolve(clock))
        clock.at += timedelta(minutes=8)
    node.stop()  # every process restarts: nothing in memory survives
    node = Node(database, auto_host, clock)
    for _ in range(3):
        ids.append(node.fire_and_resolve(clock))
        clock.at += timedelta(minutes=8)
    assert len(set(ids)) == 6  # each re-fire after a resolution is a new incident
    assert len(auto_host.executions()) == 3
    automation = "system:parapet:automation"
    assert _audits(node) == [(automation, "succeeded")] * 3 + [(automation, "breaker_tripped")]
    kinds = _kinds(node, ids)
    assert kinds.count("breaker_tripped") == 1
    assert kinds.count("mitigation_skipped") == 2  # fires 5 and 6: the breaker is open
    tripped_on = ids[3]
    # escalation jumps a tier: escalate_now as the automation, one tier past the one the chain had reached
    escalated = [(e.actor, e.data.get("tier")) for e in node.store.timeline(tripped_on) if e.kind == "escalated"]
    jumps = [tier for actor, tier in escalated if actor == automation]
    reached = [tier for actor, tier in escalated if actor != automation]
    assert reached == [0] and jumps == [1], escalated

    # a restart now changes nothing either: the breaker is still open for the next automatic run
    node.stop()
    node = Node(database, auto_host, clock)
    clock.at += timedelta(hours=3)  # time alone never closes it
    ids.append(node.fire_and_resolve(clock))
    assert len(auto_host.executions()) == 3
    assert node.store.timeline(ids[-1])[-2].kind == "mitigation_skipped"

    # a manual run: refused without a reason, allowed with one, audited as the user
    incident = node.store.open_or_touch(stalled()).incident
    found = automation_jobs.catalog_for(node.spec).step("payments", "restart-workers")
    assert found is not None
    node.worker.run_once()  # its own automatic request is skipped (breaker open)
    with pytest.raises(ReasonRequired):
        request(node.engine, incident.id, *found, actor="rita", given={"count": "1"}, now=clock(), reason=None)
    # the automatic request already holds this incident's key ({incident}): a person's run gets its own key
    done = request(
        node.engine,
        incident.id,
        *found,
        actor="rita",
        given={"count": "1", "queue": "payments-2"},
        now=clock(),
        reason="queue stuck again, restarting by hand",
    )
    assert done.won
    node.worker.run_once()
    assert auto_host.executions()[-1] == "restart payments-2 1"
    actor, outcome = _audits(node)[-1]
    assert (actor, outcome) == ("rita", "succeeded")
    with node.engine.connect() as conn:
        params = conn.execute(select(tool_audits.c.parameters).order_by(tool_audits.c.id.desc()).limit(1)).scalar()
    assert params["_reason"] == "queue stuck again, restarting by hand"
    node.store.resolve(incident.id, actor="rita")

    # after that success the breaker closes once a quiet period (30m) has passed, not before
    clock.at += timedelta(minutes=10)
    ids.append(node.fire_and_resolve(clock))
    assert len(auto_host.executions()) == 4  # still open during the quiet period
    clock.at += timedelta(minutes=30)
    node.stop()
    node = Node(database, auto_host, clock)
    ids.append(node.fire_and_resolve(clock))
    assert len(auto_host.executions()) == 5  # closed: the automatic step ran again
    assert _kinds(node, ids).count("breaker_tripped") == 1
    node.stop()
