"""What Alertmanager delivered, as the operator sees it: incidents opened through the real webhook show
their alert instances, resolved instances, stale flags (and the queue's stale filter), and re-fire links."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from starlette.testclient import TestClient

from parapet.evidence import Store
from parapet.evidence.schema import alert_instances
from tests.alerts.conftest import T0, alert, payload
from tests.web.conftest import host_with
from tests.web.helpers import Clock
from tests.web.test_ui_forms import ROOT, login

TOKEN = "webhook-token-for-the-ui-tests"


def deliver(client: TestClient, body: dict[str, object]) -> None:
    response = client.post(f"{ROOT}/webhook", json=body, headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text


def test_instances_stale_flags_and_refire_links(store: Store, users_file: Path, clock: Clock) -> None:
    clock.at = T0
    app = host_with(store=store, users_file=users_file, webhook_tokens=[TOKEN])
    with TestClient(app) as client:
        a = alert("DiskFull", instance="db-1", severity="warning")
        b = alert("DiskFull", instance="db-2", severity="warning")
        deliver(client, payload(a, b))
        login(client, "vera")
        queue = client.get(f"{ROOT}/")
        ident = int(queue.text.split(f'href="{ROOT}/incidents/')[1].split('"')[0])
        page = client.get(f"{ROOT}/incidents/{ident}").text
        assert 'Alert instances <span class="count">2</span>' in page
        assert page.count('class="status status-firing"') == 2 and a["fingerprint"] in page
        assert 'href="http://prometheus:9090/graph"' in page

        clock.at = T0 + timedelta(minutes=5)
        done = dict(b, status="resolved", endsAt=(T0 + timedelta(minutes=4)).isoformat().replace("+00:00", "Z"))
        deliver(client, payload(a, done))
        page = client.get(f"{ROOT}/incidents/{ident}").text
        assert page.count('class="status status-firing"') == 1 and page.count('class="status status-resolved"') == 1

        # No store command marks staleness yet (the intake's loop does it): set the flag as that loop would.
        with store.engine.begin() as conn:
            conn.execute(update(alert_instances).where(alert_instances.c.status == "firing").values(stale_at=clock.at))
        assert '<span class="stale">stale</span>' in client.get(f"{ROOT}/").text
        only_stale = client.get(f"{ROOT}/?stale=yes").text
        assert f"/incidents/{ident}" in only_stale
        assert f"/incidents/{ident}" not in client.get(f"{ROOT}/?stale=no").text
        assert client.get(f"{ROOT}/?stale=maybe").status_code == 400
        assert 'title="not seen for 3 repeat intervals' in client.get(f"{ROOT}/incidents/{ident}").text

        clock.at = T0 + timedelta(minutes=10)
        a_done = dict(a, status="resolved", endsAt=(T0 + timedelta(minutes=9)).isoformat().replace("+00:00", "Z"))
        deliver(client, payload(a_done))
        assert store.get(ident).state == "resolved"
        clock.at = T0 + timedelta(minutes=30)
        again = alert("DiskFull", instance="db-1", severity="warning", starts=clock.at)
        deliver(client, payload(again))
        later = next(i for i in store.queue().items if i.id != ident)
        assert (
            f'href="{ROOT}/incidents/{ident}">Earlier incident #{ident}'
            in client.get(f"{ROOT}/incidents/{later.id}").text
        )
        assert (
            f'href="{ROOT}/incidents/{later.id}">Fired again as #{later.id}'
            in client.get(f"{ROOT}/incidents/{ident}").text
        )
