"""Suspect changes in a real browser (Debian's chromium through Playwright): a deploy marked with `parapet mark
deploy` 10 minutes before an incident and a flag change from the real OpenFeature SDK both show on the incident
page, apart from the timeline of what people did, and in MCP's list_changes, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from openfeature import api
from playwright.sync_api import Browser
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.routing import Mount

from parapet.changes.openfeature import track_flag_changes
from parapet.evidence import Alert, Store
from parapet.mcp.stdio import open_reader
from parapet.web import create_app
from tests.changes.flagprovider import MemoryProvider, wait_recorded
from tests.web.test_browser import CHROMIUM, LiveServer, browser  # noqa: F401

SECRET = "test-session-secret-0123456789abcdef0123456789"


@pytest.fixture
def flags() -> Iterator[MemoryProvider]:
    provider = MemoryProvider({"new-checkout": False}, name="memory-flags")
    api.set_provider(provider)
    yield provider
    api.clear_providers()


def test_deploy_and_flag_change_show_as_suspect_changes(
    cli,  # type: ignore[no-untyped-def]
    database,
    engine: Engine,
    browser: Browser,  # noqa: F811
    flags: MemoryProvider,
) -> None:
    store = Store(engine)
    result = cli(
        "mark", "deploy", "--service", "shop", "--version", "2026.12.6-1", "--actor", "ci-pipeline",
        "--url", "https://ci.example/runs/81", "--database-url", database.url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with engine.begin() as conn:  # the deploy happened 10 minutes ago
        conn.exec_driver_sql(
            "UPDATE parapet_system_events SET occurred_at = ?"
            if database.kind == "sqlite"
            else "UPDATE parapet_system_events SET occurred_at = %s",
            ((datetime.now(UTC) - timedelta(minutes=10)).replace(tzinfo=None if database.kind == "sqlite" else UTC),),
        )
    stop = track_flag_changes(store, service="shop")
    try:
        flags.set({"new-checkout": True}, message="rollout to 50%")
        wait_recorded(store, 2)
    finally:
        stop()
    incident = store.open_or_touch(
        Alert(correlation_key="shop/availability", alert_name="ShopAvailability", severity="page",
              title="shop availability burning", service="shop")
    ).incident  # fmt: skip
    store.add_note(incident.id, actor="rita", text="looking at it")
    host = Starlette(
        routes=[
            Mount("/parapet", app=create_app(spec_path=None, store=store, session_secret=SECRET, insecure_local=True))
        ]
    )
    with LiveServer(host) as base:
        page = browser.new_page()
        page.goto(f"{base}/parapet/incidents/{incident.id}")
        panel = page.locator("section[aria-labelledby=changes-title]")
        deploy = panel.locator("li[data-change-kind=deploy]")
        flag = panel.locator("li[data-change-kind=flag_change]")
        assert deploy.count() == 1 and flag.count() == 1
        assert "2026.12.6-1" in deploy.inner_text() and "by ci-pipeline" in deploy.inner_text()
        assert "10m" in deploy.inner_text()  # "10m … before"
        assert deploy.locator("a").get_attribute("href") == "https://ci.example/runs/81"
        assert "new-checkout" in flag.inner_text() and "memory-flags" in flag.inner_text()
        # apart from the timeline: the changes are not entries of it, the note is
        timeline = page.locator("section[aria-labelledby=timeline-title]").inner_text()
        assert "looking at it" in timeline and "new-checkout" not in timeline and "2026.12.6-1" not in timeline
        page.close()
    # MCP's list_changes (its reader, on its read-only connection) reads the same two changes
    reader = open_reader(None, database.url)
    try:
        listed = reader.list_changes(service="shop", since=(datetime.now(UTC) - timedelta(hours=1)).isoformat())
    finally:
        reader.store.engine.dispose()
    kinds = {c["kind"]: c for c in listed["changes"]}
    assert set(kinds) == {"deploy", "flag_change"}, listed
    assert "2026.12.6-1" in str(kinds["deploy"]) and "new-checkout" in str(kinds["flag_change"])
