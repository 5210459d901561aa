"""Fifty operators click the same mitigation at once: one claim, one job, one execution, one tool audit. On
PostgreSQL across two real ``parapet serve`` processes (each running the work engine), on SQLite with fifty
threads against one server; every click lands on the page of the same run."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import func, select

from parapet.evidence.db import create_engine_for
from parapet.evidence.schema import action_claims, jobs, tool_audits
from parapet.evidence.store import Store
from parapet.web import create_app
from parapet.work import Worker
from tests.alerts.harness import parapet_serve, wait_until
from tests.automation.conftest import SECRET_VALUE, Host, stalled
from tests.evidence.conftest import Database
from tests.web.helpers import PASSWORDS, write_users
from tests.web.test_browser import LiveServer

CLICKS = 50
UI_BLOCK = "ui:\n  users_file: users\n"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def sign_in(base: str) -> tuple[str, str]:
    """A session on ``base`` (cookie header) and its CSRF token."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/parapet/login").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    form = {"csrf_token": token.group(1), "name": "rita", "password": PASSWORDS["rita"], "next": "/parapet/"}
    opener.open(f"{base}/parapet/login", data=urllib.parse.urlencode(form).encode()).read()
    page = opener.open(f"{base}/parapet/").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    return "; ".join(f"{c.name}={c.value}" for c in jar), token.group(1)


def click_together(bases: Sequence[str], incident_id: int, cookie: str, token: str) -> list[str]:
    """CLICKS posts of the confirm form at once, spread over ``bases``; the Location each answer sends to."""
    opener = urllib.request.build_opener(_NoRedirect)
    barrier = threading.Barrier(CLICKS)
    locations: list[str] = []
    errors: list[BaseException] = []
    body = urllib.parse.urlencode({"csrf_token": token, "queue": "payments", "count": "2"}).encode()

    def click(i: int) -> None:
        url = f"{bases[i % len(bases)]}/parapet/incidents/{incident_id}/runbooks/payments/restart-workers/run"
        request = urllib.request.Request(url, data=body, headers={"Cookie": cookie})
        barrier.wait()
        try:
            opener.open(request, timeout=60)
        except urllib.error.HTTPError as exc:
            if exc.code == 303:
                locations.append(str(exc.headers["location"]))
            else:
                errors.append(exc)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=click, args=(i,)) for i in range(CLICKS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]
    return locations


def counts(url: str) -> tuple[int, int, int]:
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            return (
                conn.execute(select(func.count()).select_from(action_claims)).scalar_one(),
                conn.execute(select(func.count()).select_from(jobs).where(jobs.c.kind == "mitigation")).scalar_one(),
                conn.execute(select(func.count()).select_from(tool_audits)).scalar_one(),
            )
    finally:
        engine.dispose()


def test_fifty_clicks_across_two_serve_processes_on_postgresql(postgres_db: Database, host: Host) -> None:
    (host.spec_path).write_text(host.spec_path.read_text() + UI_BLOCK)
    write_users(host.root / "users")
    engine = postgres_db.create_all()
    incident = Store(engine).open_or_touch(stalled()).incident
    engine.dispose()
    env = {"RB_LEDGER": str(host.ledger), "RB_TOKEN": SECRET_VALUE}
    (host.root / "token").write_text("clicks-token\n")
    args = ("--database-url", postgres_db.url, "--webhook-token-file", "token")
    with parapet_serve(host.root, *args, env=env) as (a, proc_a), parapet_serve(host.root, *args, env=env) as (b, _):
        cookie, token = sign_in(a)
        locations = click_together([a, b], incident.id, cookie, token)
        assert len(locations) == CLICKS and len(set(locations)) == 1  # every click: the page of the one run
        wait_until("the run's audit", lambda: counts(postgres_db.url)[2] == 1, timeout=60)
        time.sleep(2)  # both workers keep polling: nothing more may run
        assert counts(postgres_db.url) == (1, 1, 1)
        assert host.executions() == ["restart payments 2"]
        page = (
            urllib.request.urlopen(urllib.request.Request(b + locations[0], headers={"Cookie": cookie})).read().decode()
        )
        assert "succeeded" in page and SECRET_VALUE not in page
    engine = postgres_db.engine()
    assert [a.actor for a in Store(engine).tool_audits(incident.id)] == ["rita"]
    engine.dispose()
    assert SECRET_VALUE not in proc_a.text()


def test_fifty_clicks_from_threads_on_sqlite(sqlite_db: Database, host: Host, tmp_path: Path) -> None:
    engine = sqlite_db.create_all()
    store = Store(engine)
    incident = store.open_or_touch(stalled()).incident
    users = write_users(tmp_path / "users")
    app = create_app(spec_path=host.spec_path, database_url=sqlite_db.url, users_file=users, session_secret="s" * 48)
    from starlette.applications import Starlette
    from starlette.routing import Mount

    with LiveServer(Starlette(routes=[Mount("/parapet", app=app)])) as base:
        cookie, token = sign_in(base)
        locations = click_together([base], incident.id, cookie, token)
    assert len(locations) == CLICKS and len(set(locations)) == 1
    Worker(engine, settings=host.spec()).run_once()
    Worker(engine, settings=host.spec()).run_once()
    assert counts(sqlite_db.url) == (1, 1, 1)
    assert host.executions() == ["restart payments 2"]
    assert [a.actor for a in store.tool_audits(incident.id)] == ["rita"]
    engine.dispose()
