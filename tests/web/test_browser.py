"""The UI in a real browser: Debian's chromium driven by Playwright (launched by path, never downloaded),
at phone (390×844) and desktop (1440×900) sizes, with JavaScript on and off, on SQLite and PostgreSQL.

Screenshots go to ``$PARAPET_TEST_ARTIFACTS/screenshots`` when that is set (CI keeps them), else under
pytest's temporary directory. axe-core (shipped inside axe-playwright-python, nothing fetched) checks
every page for serious and critical findings.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from parapet.evidence import Store
from tests.alerts.conftest import alert, payload
from tests.web.conftest import host_with
from tests.web.helpers import HOSTILE, PASSWORDS, Clock
from tests.web.test_ui_alerts import TOKEN

CHROMIUM = "/usr/bin/chromium"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1440, "height": 900}}
# What a finger must be able to hit (WCAG 2.5.5, Apple's and Google's guidance): 44 CSS px each way.
TAP_TARGETS = (
    "main button:not([hidden]), main select, main input:not([type=hidden]), main textarea, "
    "main .incident, main .tabs a, main .button, .bar button, .bar .brand, .bar .nav"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """uvicorn on loopback in a thread, stopped when the test ends."""

    def __init__(self, app: Starlette) -> None:
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = os.environ.get("PARAPET_TEST_ARTIFACTS")
    root = Path(base) / "screenshots" if base else tmp_path_factory.getbasetemp() / "screenshots"
    folder = root / request.node.name.replace("[", "-").replace("]", "")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def live(store: Store, users_file: Path, seeded: dict[str, int]) -> Iterator[str]:
    with LiveServer(host_with(store=store, users_file=users_file, webhook_tokens=[TOKEN])) as base:
        yield base


def sign_in(page: Page, live: str, name: str) -> None:
    page.goto(f"{live}/parapet/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORDS[name])
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{live}/parapet/")


def no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert width <= inner, f"{page.url} scrolls sideways: {width} > {inner}"


def tap_targets_are_big(page: Page) -> None:
    small = page.evaluate(
        """(sel) => [...document.querySelectorAll(sel)].filter(e => e.offsetParent !== null).map(e => {
             const r = e.getBoundingClientRect();
             return [e.outerHTML.slice(0, 80), Math.round(r.width), Math.round(r.height)];
           }).filter(([, w, h]) => w < 44 || h < 44)""",
        TAP_TARGETS,
    )
    assert not small, f"tap targets under 44 px on {page.url}: {small}"


def axe_clean(page: Page) -> None:
    results = Axe().run(page)
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"axe on {page.url}: {bad}"


@pytest.mark.parametrize("js", [True, False], ids=["js-on", "js-off"])
@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_operator_flow_in_chromium(
    browser: Browser,
    live: str,
    store: Store,
    seeded: dict[str, int],
    clock: Clock,
    shots: Path,
    size: str,
    js: bool,
) -> None:
    """Sign in, acknowledge, note, resolve, reopen through the forms; a stale form gets the 409 page."""
    context = browser.new_context(
        viewport=VIEWPORTS[size], java_script_enabled=js, is_mobile=size == "phone", has_touch=size == "phone"
    )
    page = context.new_page()
    ident = seeded["checkout"]
    checks = [no_horizontal_scroll, tap_targets_are_big] + ([axe_clean] if js else [])

    def look(name: str) -> None:
        for check in checks:
            check(page)
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    page.goto(f"{live}/parapet/")
    assert "/parapet/login" in page.url
    look("01-login")
    page.fill("#name", "rita")
    page.fill("#password", PASSWORDS["rita"])
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{live}/parapet/")
    look("02-queue")
    page.click("a.incident:has-text('checkout availability')")
    page.wait_for_url(f"{live}/parapet/incidents/{ident}")
    look("03-incident")

    clock.at += timedelta(minutes=3)
    page.click("button:has-text('Acknowledge')")
    page.wait_for_selector("text=Acknowledged incident")
    assert store.get(ident).state == "acknowledged"
    look("04-acknowledged")

    page.fill("#note-text", "Rolled back checkout to v2.30.4 <b>not bold</b>")
    page.click("button:has-text('Add note')")
    page.wait_for_selector("text=Note added")
    assert page.locator(".timeline .message").first.inner_text() == "Rolled back checkout to v2.30.4 <b>not bold</b>"

    clock.at += timedelta(minutes=10)
    page.click("button:has-text('Resolve')")
    page.wait_for_selector("text=Resolved incident")
    assert store.get(ident).state == "resolved"
    look("05-resolved")

    page.click("button:has-text('Reopen')")
    page.wait_for_selector("text=Reopened incident")
    assert store.get(ident).state == "open"

    # Someone else acts while this page is open: the next click gets the 409 page, then succeeds.
    store.acknowledge(ident, actor="bob", message="taking this one")
    page.click("button:has-text('Resolve')")
    page.wait_for_selector("text=changed while you were looking at it")
    assert page.locator("text=taking this one").count() == 1
    look("06-conflict")
    page.click("button:has-text('Resolve now')")
    page.wait_for_selector("text=Resolved incident")
    assert [(e.kind, e.actor) for e in store.timeline(ident)][1:] == [
        ("acknowledged", "rita"),
        ("note", "rita"),
        ("resolved", "rita"),
        ("reopened", "rita"),
        ("acknowledged", "bob"),
        ("resolved", "rita"),
    ]
    page.click("a:has-text('Retrospective')")
    page.wait_for_selector("#retro-text")
    assert "Time to acknowledge" in page.input_value("#retro-text")
    assert page.locator("button.copy").is_visible() is js  # the copy button exists only with JavaScript
    look("07-retrospective")
    page.goto(f"{live}/parapet/?state=resolved")
    look("08-resolved-queue")
    context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_pages_pass_axe_in_both_colour_schemes(
    browser: Browser, live: str, store: Store, seeded: dict[str, int], shots: Path, size: str, scheme: str
) -> None:
    """Every kind of page, hostile alert text and Alertmanager's instances included: axe finds nothing serious,
    nothing from the alert runs, nothing scrolls sideways on the phone."""
    context = browser.new_context(viewport=VIEWPORTS[size], color_scheme=scheme, is_mobile=size == "phone")
    page = context.new_page()
    sign_in(page, live, "vera")
    hostile = {"summary": HOSTILE, "description": HOSTILE, "runbook_url": "javascript:alert(1)"}
    body = payload(
        alert("DiskFull", instance="db-1", annotations=hostile, severity="warning"),
        alert("DiskFull", instance=HOSTILE, severity="warning"),
    )
    delivered = context.request.post(f"{live}/parapet/webhook", data=body, headers={"authorization": f"Bearer {TOKEN}"})
    assert delivered.status == 200, delivered.text()
    from_alertmanager = next(i.id for i in store.queue().items if i.alert_name == "DiskFull")
    for name, path in [
        ("alertmanager", f"/incidents/{from_alertmanager}"),
        ("queue", "/"),
        ("hostile", f"/incidents/{seeded['hostile']}"),
        ("resolved", f"/incidents/{seeded['resolved']}"),
        ("missing", "/incidents/987654"),
    ]:
        page.goto(f"{live}/parapet{path}")
        axe_clean(page)
        no_horizontal_scroll(page)
        tap_targets_are_big(page)
        assert page.evaluate("window.__xss") is None  # nothing from the alert's text ran
        page.screenshot(path=str(shots / f"{size}-{scheme}-{name}.png"), full_page=True)
    context.close()


def test_forged_form_from_another_origin_is_refused(
    browser: Browser, live: str, store: Store, seeded: dict[str, int]
) -> None:
    """A page on another origin (same site: 127.0.0.1, another port, so the Lax cookie is sent) posts a
    form at the signed-in user's UI, with and without a guessed token: 403, nothing written."""
    ident = seeded["checkout"]
    version = store.get(ident).version
    evil = Starlette(
        routes=[
            Route(
                "/",
                lambda request: HTMLResponse(
                    f'<form id="f" method="post" action="{live}/parapet/incidents/{ident}/resolve">'
                    f'<input name="expected_version" value="{version}">'
                    f'<input name="csrf_token" value="{request.query_params.get("token", "")}">'
                    '<button id="go">go</button></form>'
                ),
            )
        ]
    )
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, live, "rita")
    entries = store.timeline(ident)
    with LiveServer(evil) as other:
        for token in ("", "guessed-token-guessed-token-guessed-token"):
            page.goto(f"{other}/?token={token}")
            with page.expect_response(lambda r: "/resolve" in r.url) as answer:
                page.click("#go")
            assert answer.value.status == 403
            assert "This form was refused" in page.content()
    assert store.get(ident).state == "open" and store.timeline(ident) == entries
    context.close()


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_admin_retries_a_dead_job_in_chromium(
    browser: Browser, live: str, store: Store, clock: Clock, size: str
) -> None:
    from sqlalchemy import select

    from parapet.evidence.schema import jobs
    from tests.web.test_ui_jobs import _dead_job

    job_id = _dead_job(store, clock)
    context = browser.new_context(viewport=VIEWPORTS[size], is_mobile=size == "phone", has_touch=size == "phone")
    page = context.new_page()
    sign_in(page, live, "adam")
    page.click(".bar a:has-text('Jobs')")
    page.wait_for_url(f"{live}/parapet/admin/jobs")
    for check in (no_horizontal_scroll, tap_targets_are_big, axe_clean):
        check(page)
    assert "sig=***" in page.content() and "s3cr3t" not in page.content()
    page.click("button:has-text('Retry')")
    page.wait_for_selector(f"text=Job {job_id} is pending again")
    with store.engine.connect() as conn:
        assert conn.execute(select(jobs.c.state).where(jobs.c.id == job_id)).scalar_one() == "pending"
    context.close()
