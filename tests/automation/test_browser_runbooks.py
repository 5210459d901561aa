"""Runbooks in a real browser (Debian's chromium through Playwright, launched by path) at phone (390x844) and
desktop (1440x900) sizes: the automation's run and timeline entries styled apart from people's, Run -> confirm
-> result, the override, with axe, tap-target and sideways-scroll checks on every page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from starlette.applications import Starlette
from starlette.routing import Mount

from parapet.evidence.store import Store
from parapet.web import create_app
from parapet.work import Worker
from tests.automation.conftest import Host, make_host, stalled
from tests.web.helpers import write_users
from tests.web.test_browser import (  # noqa: F401
    VIEWPORTS,
    LiveServer,
    axe_clean,
    browser,
    no_horizontal_scroll,
    shots,
    sign_in,
    tap_targets_are_big,
)


@pytest.fixture(params=["sqlite"])
def database(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return request.getfixturevalue("sqlite_db")


@pytest.fixture
def auto(host: Host, monkeypatch: pytest.MonkeyPatch) -> Host:
    made = make_host(host.root.parent / "auto", auto=True)
    monkeypatch.setenv("RB_LEDGER", str(made.ledger))
    return made


@pytest.fixture
def live(store: Store, auto: Host, tmp_path: Path) -> Iterator[str]:
    users = write_users(tmp_path / "users")
    app = create_app(spec_path=auto.spec_path, store=store, users_file=users, session_secret="b" * 48)
    with LiveServer(Starlette(routes=[Mount("/parapet", app=app)])) as base:
        yield base


def _style(page: Page, selector: str, prop: str) -> str:
    return str(page.eval_on_selector(selector, f"e => getComputedStyle(e).getPropertyValue('{prop}')"))


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_run_confirm_override_and_system_styling(
    browser: Browser,  # noqa: F811
    live: str,
    store: Store,
    auto: Host,
    shots: Path,  # noqa: F811
    size: str,
) -> None:
    incident = store.open_or_touch(stalled()).incident  # the automatic step is requested as it opens
    worker = Worker(store.engine, settings=auto.spec(), clock=store.clock)
    worker.run_once()
    assert auto.executions() == ["restart payments 2"]
    context = browser.new_context(viewport=VIEWPORTS[size], is_mobile=size == "phone", has_touch=size == "phone")
    page = context.new_page()

    def look(name: str) -> None:
        no_horizontal_scroll(page)
        tap_targets_are_big(page)
        axe_clean(page)
        page.screenshot(path=str(shots / f"{size}-{name}.png"), full_page=True)

    sign_in(page, live, "rita")
    page.goto(f"{live}/parapet/incidents/{incident.id}")
    look("01-incident")
    # the automation's run and entries are styled apart from a person's
    system_run = page.locator(".runs .run.by-system").first
    assert system_run.is_visible()
    assert "system:parapet:automation" in system_run.inner_text()
    assert _style(page, ".runs .run.by-system", "border-left-style") == "dashed"
    assert _style(page, ".timeline .entry.by-system", "border-left-style") == "dashed"
    assert _style(page, ".runs .actor.system", "font-style") == "italic"
    assert page.locator(".badge.auto").first.is_visible()

    # Run -> confirm -> result
    page.click("a.button:has-text('Run…') >> nth=0")
    page.wait_for_selector("h1:has-text('Restart the payment workers')")
    assert page.locator("text=It ran on this incident already").is_visible()
    look("02-confirm")
    page.fill("#param-count", "eleven")
    page.click("button:has-text('Confirm and run')")
    page.wait_for_selector(".error-summary")
    assert page.locator("#param-count-error").inner_text() == "must be a whole number"
    look("03-confirm-error")
    page.fill("#param-count", "4")
    page.click("button:has-text('Confirm and run')")
    page.wait_for_selector("text=requested: it runs once")
    assert page.locator(".run-status").inner_text() == "pending"
    look("04-pending")
    worker.run_once()
    page.reload()
    page.wait_for_selector(".run-status.status-succeeded")
    look("05-succeeded")
    assert auto.executions() == ["restart payments 2", "restart payments 4"]
    assert [a.actor for a in store.tool_audits(incident.id)] == ["system:parapet:automation", "rita"]

    # the override: automatic runs off on this incident
    page.goto(f"{live}/parapet/incidents/{incident.id}")
    person = ".timeline .entry.kind-mitigation_requested:not(.by-system)"
    assert _style(page, person, "border-left-style") == "solid"  # a person's entry: not the system's style
    assert _style(page, ".runs .run:not(.by-system)", "border-left-style") == "solid"
    page.click("button:has-text('Disable automatic runs')")
    page.wait_for_selector("text=Automatic runs are off on this incident (by rita)")
    look("06-override")
    assert page.locator("button:has-text('Enable automatic runs')").is_visible()
    assert "automation_disabled" in [e.kind for e in store.timeline(incident.id)]
    context.close()
