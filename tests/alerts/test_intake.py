"""The per-delivery transaction on SQLite and PostgreSQL: occurrences, correlation, timeline only on change,
resolution by Alertmanager, re-fires linked, late retries inert, concurrent deliveries of one group."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from parapet.alerts import Correlator, ingest, parse_body
from parapet.alerts.payload import parse_payload
from parapet.evidence.schema import alert_instances, incidents, timeline_entries, webhook_deliveries
from parapet.evidence.store import Store
from parapet.spec import load_spec
from tests.alerts.conftest import MINI_SPEC, T0, Clock, alert, payload

PLAIN = Correlator()


def deliver(store: Store, body: dict[str, Any], correlator: Correlator = PLAIN):  # type: ignore[no-untyped-def]
    return ingest(store, parse_payload(json.loads(json.dumps(body))), correlator)


def kinds(store: Store, incident_id: int) -> list[str]:
    return [e.kind for e in store.timeline(incident_id)]


def count(store: Store, table) -> int:  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_group_that_repeats_and_grows_is_one_incident_without_repeat_noise(store: Store, clock: Clock) -> None:
    a = alert(instance="a:1")
    first = deliver(store, payload(a))
    assert len(first.opened) == 1
    incident_id = first.opened[0]
    version = store.get(incident_id).version
    for _ in range(3):  # repeat_interval re-sends of the same group
        clock.advance(minutes=1)
        again = deliver(store, payload(a))
        assert again.repeated == 1 and again.opened == []
    assert kinds(store, incident_id) == ["opened"]
    assert store.get(incident_id).version == version  # an operator's open form stays valid
    assert store.get(incident_id).occurrence_count == 4
    clock.advance(minutes=1)
    grown = deliver(store, payload(a, alert(instance="b:1"), alert(instance="c:1")))
    assert grown.added == 2 and grown.repeated == 1 and grown.opened == []
    assert kinds(store, incident_id) == ["opened", "instance_added"]
    assert store.timeline(incident_id)[-1].data["instances"] == 2
    instances = store.alert_instances(incident_id)
    assert sorted(i.labels["instance"] for i in instances) == ["a:1", "b:1", "c:1"]
    assert {i.occurrence_count for i in instances if i.labels["instance"] == "a:1"} == {5}
    assert count(store, incidents) == 1
    assert count(store, webhook_deliveries) == 5


def test_every_instance_resolved_resolves_as_alertmanager(store: Store, clock: Clock) -> None:
    a, b = alert(instance="a"), alert(instance="b")
    incident_id = deliver(store, payload(a, b)).opened[0]
    clock.advance(minutes=2)
    ends = T0 + timedelta(minutes=2)
    one = deliver(store, payload(alert(instance="a", status="resolved", ends=ends), b))
    assert one.resolved_instances == 1 and one.resolved_incidents == []
    assert store.get(incident_id).state == "open"
    two = deliver(
        store,
        payload(alert(instance="a", status="resolved", ends=ends), alert(instance="b", status="resolved", ends=ends)),
    )
    assert two.resolved_incidents == [incident_id] and two.late == 1  # a's resolve re-sent: no change
    incident = store.get(incident_id)
    assert incident.state == "resolved" and incident.resolved_by == "system:alertmanager"
    assert kinds(store, incident_id) == ["opened", "instance_resolved", "instance_resolved", "resolved"]
    assert {e.actor for e in store.timeline(incident_id)} == {"system:alertmanager"}
    assert all(i.status == "resolved" and i.ends_at == ends for i in store.alert_instances(incident_id))


def test_refire_opens_a_new_incident_linked_to_the_old_and_late_retries_change_nothing(
    store: Store, clock: Clock
) -> None:
    first = deliver(store, payload(alert())).opened[0]
    clock.advance(minutes=5)
    deliver(store, payload(alert(status="resolved", ends=T0 + timedelta(minutes=5))))
    assert store.get(first).state == "resolved"
    clock.advance(minutes=5)
    later = T0 + timedelta(minutes=10)
    second = deliver(store, payload(alert(starts=later))).opened
    assert len(second) == 1 and second[0] != first
    assert [(link.incident_id, link.direction) for link in store.links(second[0])] == [(first, "earlier")]
    assert [(link.incident_id, link.direction) for link in store.links(first)] == [(second[0], "later")]
    assert store.timeline(second[0])[0].data["earlier_incident_id"] == first
    before = (store.get(first).version, store.get(second[0]).version, count(store, timeline_entries))
    late = deliver(store, payload(alert()))  # a retry of the first occurrence's firing, after it resolved
    older = deliver(store, payload(alert(starts=T0 - timedelta(hours=1))))  # an occurrence older than known
    assert late.late == 1 and older.late == 1 and late.opened == older.opened == []
    assert (store.get(first).version, store.get(second[0]).version, count(store, timeline_entries)) == before
    unknown = deliver(store, payload(alert("Other", status="resolved", ends=later)))
    assert unknown.unknown_resolved == 1 and count(store, incidents) == 2


def test_parapet_alerts_fold_page_and_ticket_severity_only_rises(store: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "parapet.yaml"
    spec.write_text(
        "version: parapet/v1\nservice: shop\nalerting: {runbook_url: 'https://r/{slo}'}\n"
        "slos:\n  - name: payments\n    objective: 99.9\n    group_by: [provider]\n"
        "    sli: {events: {error_query: 'sum by (provider) (rate(e[{{window}}]))',"
        " total_query: 'sum by (provider) (rate(t[{{window}}]))'}}\n"
    )
    correlator = Correlator.from_spec(load_spec(spec))
    labels = {"service": "shop", "slo": "payments", "provider": "visa"}
    ticket = alert("ShopPaymentsErrorBudgetBurn", severity="ticket", replica="a", **labels)
    incident_id = deliver(store, payload(ticket), correlator).opened[0]
    assert store.get(incident_id).correlation_key == "shop/payments{provider='visa'}"
    page = alert("ShopPaymentsErrorBudgetBurn", severity="page", replica="b", **labels)
    raised = deliver(store, payload(page), correlator)
    assert raised.opened == [] and raised.added == 1
    assert store.get(incident_id).severity == "page"
    assert kinds(store, incident_id) == ["opened", "instance_added", "severity_raised"]
    # A ticket again (another replica): no lowering.
    deliver(store, payload(alert("ShopPaymentsErrorBudgetBurn", severity="ticket", replica="c", **labels)), correlator)
    assert store.get(incident_id).severity == "page"
    other = deliver(
        store,
        payload(alert("ShopPaymentsErrorBudgetBurn", severity="page", **{**labels, "provider": "amex"})),
        correlator,
    )
    assert len(other.opened) == 1  # another group_by value is another incident


def test_other_alerts_correlate_by_name_and_group_labels_replicas_ignored(store: Store) -> None:
    group = {"alertname": "DiskFull", "cluster": "eu", "prometheus_replica": "p1"}
    one = deliver(
        store, payload(alert("DiskFull", cluster="eu", prometheus_replica="p1", host="a"), group_labels=group)
    )
    two = deliver(
        store,
        payload(
            alert("DiskFull", cluster="eu", prometheus_replica="p2", host="a"),
            group_labels={**group, "prometheus_replica": "p2"},
        ),
    )
    assert len(one.opened) == 1 and two.opened == [] and two.added == 1
    assert store.get(one.opened[0]).correlation_key == "DiskFull{cluster='eu'}"
    us = deliver(
        store, payload(alert("DiskFull", cluster="us"), group_labels={"alertname": "DiskFull", "cluster": "us"})
    )
    assert len(us.opened) == 1


def test_spec_correlation_override(store: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "parapet.yaml"
    spec.write_text(MINI_SPEC + "alertmanager:\n  correlation:\n    - match: {team: db}\n      by: [cluster]\n")
    correlator = Correlator.from_spec(load_spec(spec))
    first = deliver(
        store,
        payload(alert("PgDown", team="db", cluster="eu", host="x"), group_labels={"alertname": "PgDown", "host": "x"}),
        correlator,
    )
    second = deliver(
        store,
        payload(alert("PgDown", team="db", cluster="eu", host="y"), group_labels={"alertname": "PgDown", "host": "y"}),
        correlator,
    )
    assert store.get(first.opened[0]).correlation_key == "PgDown{cluster='eu'}"
    assert second.opened == [] and second.added == 1


def test_truncated_alerts_is_a_timeline_warning(store: Store) -> None:
    incident_id = deliver(store, payload(alert())).opened[0]
    deliver(store, payload(alert(), truncatedAlerts=7))
    assert kinds(store, incident_id) == ["opened", "truncated_alerts"]
    assert store.timeline(incident_id)[-1].data == {"truncated_alerts": 7}


def test_two_alertmanagers_delivering_the_same_group_at_once_give_one_incident(
    store: Store,
    database,  # type: ignore[no-untyped-def]
) -> None:
    body = payload(*(alert(instance=f"i{n}") for n in range(10)))
    delivery = parse_body(json.dumps(body).encode())
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def send() -> None:
        try:
            barrier.wait()
            ingest(store, delivery, PLAIN)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert count(store, incidents) == 1
    assert count(store, alert_instances) == 10
    (incident,) = store.queue().items
    assert kinds(store, incident.id) == ["opened"]
    assert incident.occurrence_count == 40


def test_stale_filter_and_flags(store: Store, clock: Clock) -> None:
    incident_id = deliver(store, payload(alert())).opened[0]
    assert store.stale_incident_ids([incident_id]) == set()
    with store.engine.begin() as conn:
        conn.execute(alert_instances.update().values(stale_at=clock()))
    assert store.stale_incident_ids([incident_id]) == {incident_id}
    assert [i.id for i in store.queue(stale=True).items] == [incident_id]
    assert store.queue(stale=False).items == ()
    assert store.alert_instances(incident_id)[0].stale
    deliver(store, payload(alert()))  # seen again: no longer stale
    assert store.stale_incident_ids([incident_id]) == set()


def test_a_logged_delivery_replays_without_changing_what_it_applied(store: Store, clock: Clock) -> None:
    import pytest

    from parapet.alerts.intake import DeliveryNotFound, replay

    first = deliver(store, payload(alert(), alert(instance="b")))
    before = (count(store, alert_instances), count(store, timeline_entries), store.get(first.opened[0]).version)
    again = replay(store, first.delivery_id, PLAIN)
    assert again.opened == [] and again.repeated == 2 and again.delivery_id != first.delivery_id
    assert (count(store, alert_instances), count(store, timeline_entries), store.get(first.opened[0]).version) == before
    with pytest.raises(DeliveryNotFound, match="webhook delivery 999 is not in the delivery log"):
        replay(store, 999, PLAIN)
