"""The runbooks part of the UI through HTTP (Starlette's TestClient) on SQLite and PostgreSQL: the incident's
runbook panel, the confirm page, the run and its page, the override, roles and CSRF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from parapet.evidence.store import Store
from parapet.web import create_app
from parapet.work import Worker
from tests.automation.conftest import SECRET_VALUE, Host, stalled
from tests.web.helpers import PASSWORDS, Clock, csrf_of, write_users

SECRET = "test-session-secret-0123456789abcdef0123456789"


@pytest.fixture
def client(store: Store, host: Host, tmp_path: Path) -> Iterator[TestClient]:
    users = write_users(tmp_path / "users")
    app = create_app(spec_path=host.spec_path, store=store, users_file=users, session_secret=SECRET)
    with TestClient(Starlette(routes=[Mount("/parapet", app=app)]), base_url="http://testserver") as c:
        yield c


def sign_in(client: TestClient, name: str) -> None:
    page = client.get("/parapet/login")
    answer = client.post(
        "/parapet/login",
        data={"name": name, "password": PASSWORDS[name], "csrf_token": csrf_of(page.text), "next": "/parapet/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303


def test_the_incident_page_shows_its_runbook_escaped_and_filled(client: TestClient, store: Store) -> None:
    incident = store.open_or_touch(stalled()).incident
    sign_in(client, "rita")
    page = client.get(f"/parapet/incidents/{incident.id}").text
    assert 'id="runbooks-title"' in page
    assert "<strong>payments</strong>" in page  # Markdown rendered
    assert "<script>" not in page.split('id="runbooks-title"')[1]  # raw HTML off: shown as text
    assert 'href="https://flower.example.com/queues/payments"' in page  # the link filled with the labels
    assert f"/parapet/incidents/{incident.id}/runbooks/payments/restart-workers/run" in page
    other = store.open_or_touch(
        stalled().__class__(correlation_key="x", alert_name="Other", severity="warning", title="unrelated")
    ).incident
    assert 'id="runbooks-title"' not in client.get(f"/parapet/incidents/{other.id}").text


def test_run_confirm_and_result(client: TestClient, store: Store, host: Host, clock: Clock) -> None:
    incident = store.open_or_touch(stalled()).incident
    sign_in(client, "rita")
    confirm = client.get(f"/parapet/incidents/{incident.id}/runbooks/payments/restart-workers/run")
    assert confirm.status_code == 200
    assert 'value="payments"' in confirm.text and 'value="2"' in confirm.text  # defaults over the incident
    assert "RB_TOKEN" in confirm.text and SECRET_VALUE not in confirm.text  # a secret is named, never shown
    assert "Restarts the workers of the queue, <strong>once</strong>." in confirm.text
    token = csrf_of(confirm.text)
    url = f"/parapet/incidents/{incident.id}/runbooks/payments/restart-workers/run"
    bad = client.post(url, data={"csrf_token": token, "queue": "payments", "count": "eleven"})
    assert bad.status_code == 400 and "must be a whole number" in bad.text
    too_many = client.post(url, data={"csrf_token": token, "queue": "payments", "count": "11"})
    assert too_many.status_code == 400 and "count" in too_many.text
    done = client.post(url, data={"csrf_token": token, "queue": "payments", "count": "3"}, follow_redirects=False)
    assert done.status_code == 303
    result_url = done.headers["location"]
    assert re.fullmatch(rf"/parapet/incidents/{incident.id}/mitigations/\d+", result_url)
    pending = client.get(result_url).text
    assert "pending" in pending and "data-reload-after" in pending
    again = client.post(url, data={"csrf_token": token, "queue": "payments", "count": "3"}, follow_redirects=False)
    assert again.headers["location"] == result_url  # the same run
    Worker(store.engine, settings=None, clock=store.clock).run_once()
    assert host.executions() == []  # a worker without the spec knows no runbook: the run waits for one that does
    clock.at += timedelta(seconds=31)
    Worker(store.engine, settings=host.spec(), clock=store.clock).run_once()
    assert host.executions() == ["restart payments 3"]
    finished = client.get(result_url).text
    assert "succeeded" in finished and "data-reload-after" not in finished
    assert "Tool audit" in finished and "***" in finished and SECRET_VALUE not in finished


def test_viewers_and_forged_forms_are_refused(client: TestClient, store: Store, host: Host) -> None:
    incident = store.open_or_touch(stalled()).incident
    sign_in(client, "vera")
    page = client.get(f"/parapet/incidents/{incident.id}").text
    assert "Run…" not in page
    confirm = client.get(f"/parapet/incidents/{incident.id}/runbooks/payments/restart-workers/run")
    url = f"/parapet/incidents/{incident.id}/runbooks/payments/restart-workers/run"
    assert client.post(url, data={"csrf_token": csrf_of(confirm.text)}).status_code == 403
    sign_in(client, "rita")
    assert client.post(url, data={"csrf_token": "forged"}).status_code == 403
    assert client.get(f"/parapet/incidents/{incident.id}/runbooks/payments/nope/run").status_code == 404
    assert store.tool_audits(incident.id) == []


def test_the_override_disables_automatic_runs_on_one_incident(
    client: TestClient, store: Store, host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.automation.conftest import make_host

    auto = make_host(host.root.parent / "auto", auto=True)
    monkeypatch.setenv("RB_LEDGER", str(auto.ledger))
    users = host.root.parent / "users"
    app = create_app(spec_path=auto.spec_path, store=store, users_file=users, session_secret=SECRET)
    with TestClient(Starlette(routes=[Mount("/parapet", app=app)]), base_url="http://testserver") as c:
        sign_in(c, "rita")
        incident = store.open_or_touch(stalled()).incident  # the automatic run is requested with the opening
        page = c.get(f"/parapet/incidents/{incident.id}").text
        assert "automatic" in page and "Disable automatic runs" in page
        assert 'class="run by-system"' in page  # the automation's run, styled apart
        answer = c.post(
            f"/parapet/incidents/{incident.id}/runbooks/payments/restart-workers/automation",
            data={"csrf_token": csrf_of(page), "enabled": "false"},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        Worker(store.engine, settings=auto.spec(), clock=store.clock).run_once()
        assert auto.executions() == []
        page = c.get(f"/parapet/incidents/{incident.id}").text
        assert "Enable automatic runs" in page and "Automatic runs are off on this incident (by rita)" in page
        kinds = [e.kind for e in store.timeline(incident.id)]
        assert kinds[-2:] == ["automation_disabled", "mitigation_skipped"]
        assert "entry kind-mitigation_skipped by-system" in page
        # run it by hand anyway: the person's run takes the skipped claim
        confirm = c.get(f"/parapet/incidents/{incident.id}/runbooks/payments/restart-workers/run")
        c.post(
            f"/parapet/incidents/{incident.id}/runbooks/payments/restart-workers/run",
            data={"csrf_token": csrf_of(confirm.text), "count": "1"},
        )
        Worker(store.engine, settings=auto.spec(), clock=store.clock).run_once()
        assert auto.executions() == ["restart payments 1"]
        assert [a.actor for a in store.tool_audits(incident.id)] == ["rita"]


def test_runbook_pages_for_runbook_urls(client: TestClient) -> None:
    sign_in(client, "vera")
    assert "Payments queue stalled" in client.get("/parapet/runbooks/payments").text
    assert client.get("/parapet/runbooks/nope").status_code == 404
