"""The incident page's escalation panel and "Escalate now", through the forms (SQLite and PostgreSQL) and in
Debian's chromium (Playwright, phone and desktop widths, axe-core): the chain, the current tier, when the next
step fires, the overdue flag; the button needs a responder, the session's CSRF token, and the epoch it saw."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from parapet.escalation.steps import run_step  # noqa: F401  (registers the "escalate" handler)
from parapet.evidence import Alert, Store
from parapet.spec.model import Spec
from parapet.web import create_app
from parapet.work import Worker
from tests.alerts.conftest import T0, alert, payload
from tests.escalation.conftest import chain_of, entries, jobs_of
from tests.web.conftest import SECRET
from tests.web.helpers import NOW, Clock, form_fields, write_users
from tests.web.test_browser import (
    VIEWPORTS,
    LiveServer,
    axe_clean,
    no_horizontal_scroll,
    sign_in,
    tap_targets_are_big,
)
from tests.web.test_ui_forms import login

ROOT = "/parapet"
TOKEN = "webhook-token-for-the-escalation-tests"


def host(spec: Spec, store: Store, users: Path) -> Starlette:
    app = create_app(spec_path=spec.path, store=store, users_file=users, session_secret=SECRET, webhook_tokens=[TOKEN])
    return Starlette(routes=[Mount(ROOT, app=app)])


@pytest.fixture
def incident(store: Store, clock: Clock) -> int:
    clock.at = NOW
    alert = Alert(
        correlation_key="checkout", alert_name="Burn", severity="critical", title="checkout burning", service="checkout"
    )
    return store.open_or_touch(alert).incident.id


@pytest.fixture
def client(spec: Spec, store: Store, tmp_path: Path, incident: int) -> Iterator[TestClient]:
    with TestClient(host(spec, store, write_users(tmp_path / "users")), base_url="http://testserver") as c:
        yield c


def panel(html: str) -> str:
    match = re.search(r'<section class="panel escalation".*?</section>', html, re.S)
    assert match, "no escalation panel"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(0)))


def test_alerts_delivered_to_the_webhook_start_and_stop_chains(spec: Spec, store: Store, tmp_path: Path) -> None:
    """The intake's bulk writes go through the hooks too: two alerts, two chains, each with its first step
    queued in the delivery's transaction; their resolution stops both."""
    firing = [alert("Burn", service="checkout", severity="critical"), alert("Slow", service="checkout")]
    with TestClient(host(spec, store, write_users(tmp_path / "users"))) as c:
        auth = {"authorization": f"Bearer {TOKEN}"}
        assert c.post(f"{ROOT}/webhook", json=payload(*firing), headers=auth).status_code == 200
        ids = sorted(i.id for i in store.queue(states=("open",)).items)
        assert len(ids) == 2
        assert [(chain_of(store.engine, i).policy, chain_of(store.engine, i).epoch) for i in ids] == [
            ("payments", 1),
            ("payments", 1),
        ]
        assert sorted(j.key for j in jobs_of(store.engine, "escalate")) == sorted(f"{i}:1:0:0" for i in ids)
        ended = (T0 + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
        resolved = [{**a, "status": "resolved", "endsAt": ended} for a in firing]
        assert c.post(f"{ROOT}/webhook", json=payload(*resolved), headers=auth).status_code == 200
    assert [(chain_of(store.engine, i).state, chain_of(store.engine, i).epoch) for i in ids] == [
        ("stopped", 2),
        ("stopped", 2),
    ]


def test_the_panel_shows_the_chain_and_flags_an_overdue_step(client: TestClient, incident: int, clock: Clock) -> None:
    login(client, "vera")
    text = panel(client.get(f"{ROOT}/incidents/{incident}").text)
    assert "policy payments" in text
    assert "Next: tier 0 at 2026-06-01 12:00:00 UTC" in text and "overdue" not in text
    assert "Tier 1 after 10s lead, oncall" in text and "Tier 2 after 20s cto" in text
    assert "Then the last tier again every 10s, 1 time." in text
    assert "Escalate now" not in text  # a viewer cannot
    clock.at = NOW + timedelta(seconds=45)  # no worker ran the step: overdue after 30 s
    assert "overdue by 45s" in panel(client.get(f"{ROOT}/incidents/{incident}").text)


def test_a_responder_escalates_now_once(client: TestClient, store: Store, incident: int, clock: Clock) -> None:
    login(client, "rita")
    Worker(store.engine, clock=clock, kinds=["escalate"]).run_once()  # tier 0 ran
    page = client.get(f"{ROOT}/incidents/{incident}").text
    assert "current" in panel(page)
    fields = form_fields(page, f"/incidents/{incident}/escalate")
    assert set(fields) == {"csrf_token", "epoch"}
    refused = client.post(f"{ROOT}/incidents/{incident}/escalate", data={"epoch": fields["epoch"]})
    assert refused.status_code == 403 and "Nothing was changed" in refused.text
    done = client.post(f"{ROOT}/incidents/{incident}/escalate", data=fields, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"{ROOT}/incidents/{incident}"
    after = client.get(done.headers["location"]).text
    assert f"Escalated incident {incident} to tier 1." in after
    assert [(e.actor, e.data["tier"]) for e in entries(store.engine, incident)] == [
        ("system:parapet:escalation", 0),
        ("rita", 1),
    ]
    # the same form again (a double click, or an old tab): the epoch moved on, nothing happens
    again = client.post(f"{ROOT}/incidents/{incident}/escalate", data=fields, follow_redirects=False)
    assert "was not escalated" in client.get(again.headers["location"]).text
    assert len(entries(store.engine, incident)) == 2


def test_a_viewer_cannot_escalate(client: TestClient, store: Store, incident: int) -> None:
    login(client, "rita")
    fields = form_fields(client.get(f"{ROOT}/incidents/{incident}").text, f"/incidents/{incident}/escalate")
    client.post(f"{ROOT}/logout", data={"csrf_token": fields["csrf_token"]})
    login(client, "vera")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(f"{ROOT}/incidents/{incident}").text)
    assert token
    response = client.post(f"{ROOT}/incidents/{incident}/escalate", data={"csrf_token": token.group(1), "epoch": "1"})
    assert response.status_code == 403 and "Not allowed" in response.text
    assert entries(store.engine, incident) == []


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_escalate_now_in_chromium(
    browser: Browser, spec: Spec, store: Store, incident: int, clock: Clock, tmp_path: Path, size: str
) -> None:
    Worker(store.engine, clock=clock, kinds=["escalate"]).run_once()
    clock.at = NOW + timedelta(seconds=50)  # tier 1 was due 40 s ago and has not run
    with LiveServer(host(spec, store, write_users(tmp_path / "users"))) as live:
        context = browser.new_context(viewport=VIEWPORTS[size], is_mobile=size == "phone", has_touch=size == "phone")
        page = context.new_page()
        sign_in(page, live, "rita")
        page.goto(f"{live}{ROOT}/incidents/{incident}")
        section = page.locator("section.escalation")
        assert "policy payments" in section.inner_text()
        assert "overdue by 40s" in section.locator(".overdue").inner_text()
        assert "current" in section.locator(".tier.current").inner_text()
        for check in (no_horizontal_scroll, tap_targets_are_big, axe_clean):
            check(page)
        page.screenshot(path=str(tmp_path / f"escalation-{size}.png"), full_page=True)
        page.click("button:has-text('Escalate now')")
        page.wait_for_selector(f"text=Escalated incident {incident} to tier 1.")
        assert "Tier 1" in page.locator("section.escalation .tier.current").inner_text()
        assert "overdue" not in page.locator("section.escalation").inner_text()
        assert entries(store.engine, incident)[-1].actor == "rita"
        context.close()
