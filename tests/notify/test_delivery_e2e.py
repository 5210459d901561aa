"""Teams, the signed webhook and email through the real runtime, on SQLite and PostgreSQL: the store's state
changes write the outbox, the work engine delivers it to a Teams-like receiver, a webhook receiver and an SMTP
server on loopback, and every delivery and failure is a timeline entry with its notifier. A target that keeps
failing is retried with backoff and dead-lettered after its last attempt, with the same dedup key every time.
Canary secrets (the Teams URL's sig=, the webhook's key, the SMTP password) must appear nowhere Parapet writes:
logs, every table, the pages, stdout and stderr, `parapet doctor`'s output."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from parapet.alerts.worker import Worker
from parapet.evidence import Alert, Store
from parapet.evidence.schema import metadata
from parapet.notify import secrets as notify_secrets
from parapet.notify.webhook import DEDUP_HEADER, SIGNATURE_HEADER, verify
from parapet.spec import load_spec
from parapet.web import create_app
from parapet.work import dead_jobs
from tests.evidence.conftest import Database, database, postgres_db, sqlite_db  # noqa: F401
from tests.notify.helpers import receiver
from tests.notify.smtp_server import USER, certificate, smtp_server
from tests.spec.test_spec_errors import GOOD_SLO, HEAD
from tests.web.helpers import write_users

TEAMS_SIG = "CANARY-teams-sig-0f1e2d3c4b5a"
HOOK_KEY = "CANARY-hook-hmac-key-6a7b8c9d"
SMTP_PASSWORD = "CANARY-smtp-password-1a2b3c"
CANARIES = ("CANARY", TEAMS_SIG, HOOK_KEY, SMTP_PASSWORD)
ROOT = Path(__file__).resolve().parents[2]
UI = "https://parapet.example.com/parapet"


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def spec_text(smtp_port: int, hook_url: str, dead_url: str) -> str:
    return (
        HEAD
        + GOOD_SLO
        + f"""\
notifiers:
  ops-teams:
    kind: teams
    url_env: PARAPET_TEST_TEAMS_URL
    announce: true
  ops-hook:
    kind: webhook
    url: {hook_url}
    secret_env: PARAPET_TEST_HOOK_KEY
    announce: true
  dead-hook:
    kind: webhook
    url: {dead_url}
    secret_env: PARAPET_TEST_HOOK_KEY
    announce: true
  ops-mail:
    kind: email
    host: 127.0.0.1
    port: {smtp_port}
    from: Parapet <parapet@example.com>
    to: [oncall@example.com]
    username: {USER}
    password_file: secrets/smtp-password
    ca_file: tls/cert.pem
    announce: true
ui:
  users_file: users
  url: {UI}
"""
    )


@pytest.fixture
def world(tmp_path: Path, database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:  # noqa: F811
    notify_secrets.forget_all()
    (tmp_path / "tls").mkdir()
    tls = certificate(tmp_path / "tls")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "smtp-password").write_text(SMTP_PASSWORD + "\n", encoding="utf-8")
    with (
        receiver() as teams,
        receiver() as hook,
        receiver() as dead,
        smtp_server(tls=tls, password=SMTP_PASSWORD) as mail,
    ):
        teams.echo = True  # its errors quote the URL it was called on, sig= included
        env = {
            "PARAPET_TEST_TEAMS_URL": f"{teams.url}/workflows/ab12/triggers/manual/paths/invoke?sp=run&sig={TEAMS_SIG}",
            "PARAPET_TEST_HOOK_KEY": HOOK_KEY,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        write_users(tmp_path / "users")
        spec = tmp_path / "parapet.yaml"
        spec.write_text(spec_text(mail.port, f"{hook.url}/in", f"{dead.url}/in"), encoding="utf-8")
        clock = Clock(datetime.now(UTC).replace(microsecond=0))
        engine = database.create_all()
        store = Store(engine, clock=clock)
        app = create_app(
            spec_path=spec, store=store, session_secret="s" * 40, insecure_webhook=True, insecure_local=True
        )
        worker = Worker(store, spec=load_spec(spec))
        with TestClient(Starlette(routes=[Mount("/parapet", app=app)])) as client:
            yield {
                "teams": teams, "hook": hook, "dead": dead, "mail": mail, "clock": clock, "store": store,
                "client": client, "worker": worker, "db": database, "spec": spec, "env": env, "tmp": tmp_path,
                "engine": engine,
            }  # fmt: skip
        worker.engine.close()
        engine.dispose()


def run(w: dict[str, Any], **advance: float) -> list[tuple[str, str]]:
    """Advance the clock and run what is due until nothing is: (target, outcome) of each notification job."""
    w["clock"].at += timedelta(**advance)
    out: list[tuple[str, str]] = []
    while ran := [o for o in w["worker"].engine.run_once() if o.job.kind == "notify"]:
        out += [(o.job.key.split(":")[0], o.outcome) for o in ran]
    return sorted(out)


def test_teams_webhook_and_email_announce_an_incident_and_a_failing_target_is_dead_lettered(
    world: dict[str, Any], caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    store: Store = world["store"]
    teams, hook, dead, mail = world["teams"], world["hook"], world["dead"], world["mail"]
    teams.statuses.append(400)  # the flow refuses the first card once (and quotes its URL in the answer)
    dead.statuses.extend([503] * 30)  # this receiver never recovers (3 notifications x 10 attempts)

    touch = store.open_or_touch(
        Alert(
            correlation_key="checkout/availability",
            alert_name="CheckoutAvailabilityErrorBudgetBurn",
            severity="critical",
            title="Checkout availability is burning its error budget",
            service="checkout",
            slo="availability",
            summary="5xx ratio 2.1% over 5m",
            runbook_url="https://runbooks.example.com/checkout",
        )
    )
    incident_id = touch.incident.id
    assert run(world) == [("dead-hook", "failed"), ("ops-hook", "done"), ("ops-mail", "done"), ("ops-teams", "failed")]
    store.acknowledge(incident_id, actor="rita")
    run(world, seconds=5)  # acknowledged everywhere; Teams' "opened" and the dead hook retried after their backoff
    store.resolve(incident_id, actor="adam")
    # the dead hook's backoff grows to 5 minutes, and one delivery per (target, incident) runs at a time (the
    # others wait 2 s): run until nothing is left
    rounds = 0
    while run(world, minutes=6):
        rounds += 1
        assert rounds < 100, "the notifications never settle"
    assert run(world, minutes=30) == []

    # Teams: one card per state change, in the Workflows envelope; the refused first try was retried
    cards = [json.loads(r.body)["attachments"][0]["content"] for r in teams.requests]
    said = [(c["body"][0]["items"][0]["text"].split("]")[0][2:-1], c["body"][0]["items"][1]["text"]) for c in cards]
    # a card shows the incident as it is when it is delivered: the retried "opened" card and the acknowledgement
    # were due together (one delivery per target and incident at a time: their order is either)
    assert said[0] == ("OPEN", "Opened by system:alertmanager")
    assert sorted(said[1:]) == [
        ("ACKNOWLEDGED", "Acknowledged by rita"),
        ("ACKNOWLEDGED", "Opened by system:alertmanager"),
        ("RESOLVED", "Resolved by adam"),
    ] or sorted(said[1:]) == [
        ("ACKNOWLEDGED", "Acknowledged by rita"),
        ("RESOLVED", "Opened by system:alertmanager"),
        ("RESOLVED", "Resolved by adam"),
    ]
    assert all(r.path.endswith(f"sig={TEAMS_SIG}") for r in teams.requests)
    assert all(c["actions"][0]["url"] == f"{UI}/incidents/{incident_id}" for c in cards)

    # the webhook: signed, one dedup key per notification (the job's key)
    events = [r.headers["Parapet-Event"] for r in hook.requests]
    assert events == ["opened", "acknowledged", "resolved"]
    for r in hook.requests:
        assert verify(HOOK_KEY, r.headers[SIGNATURE_HEADER], r.body, now=time.time())
        assert r.headers[DEDUP_HEADER] == json.loads(r.body)["dedup_key"]
    assert len({r.headers[DEDUP_HEADER] for r in hook.requests}) == 3

    # the dead hook: its "opened" notification tried 10 times with one dedup key, then dead-lettered
    opened = [r for r in dead.requests if r.headers["Parapet-Event"] == "opened"]
    assert len(opened) == 10 and len({r.headers[DEDUP_HEADER] for r in opened}) == 1
    dead_letters = [j for j in dead_jobs(world["engine"]) if j.key.startswith("dead-hook:")]
    assert len(dead_letters) == 3 and all(j.attempts == 10 for j in dead_letters)
    assert all("HTTP 503" in (j.last_error or "") for j in dead_letters)

    # email: three messages in one thread
    first, *replies = mail.messages
    assert len(replies) == 2 and first["Message-ID"] == f"<parapet.ops-mail.{incident_id}@example.com>"
    assert all(m["In-Reply-To"] == first["Message-ID"] for m in replies)
    assert len({m["Subject"] for m in mail.messages}) == 1
    assert [m["X-Parapet-Event"] for m in mail.messages] == ["opened", "acknowledged", "resolved"]

    # the timeline: every delivery and failure, with its notifier and target
    entries = store.timeline(incident_id)

    def of(target: str) -> list[tuple[str, str | None]]:
        return [(e.kind, e.data.get("outcome")) for e in entries if e.data.get("target") == target]

    assert of("ops-teams") == [("notify_failed", "failed"), *[("notified", "posted")] * 3]
    assert of("ops-hook") == [("notified", "posted")] * 3
    assert of("ops-mail") == [("notified", "sent")] * 3
    assert of("dead-hook") == [("notify_failed", "failed")] * 30
    mail_ids = [e.data["external_id"] for e in entries if e.data.get("target") == "ops-mail"]
    assert mail_ids == [m["Message-ID"] for m in mail.messages]
    refused = next(e for e in entries if e.kind == "notify_failed" and e.data.get("target") == "ops-teams")
    assert "HTTP 400" in (refused.message or "") and "[redacted]" in (refused.message or "")
    assert [e.data.get("kind") for e in entries if e.data.get("target") == "ops-teams"] == ["teams"] * 4

    # -- the canaries -------------------------------------------------------------------------------------
    def clean(where: str, text: str) -> None:
        for canary in CANARIES:
            assert canary not in text, f"{canary!r} leaked into {where}"

    client: TestClient = world["client"]
    for path in (f"/parapet/incidents/{incident_id}", "/parapet/?state=resolved", "/parapet/admin/jobs"):
        page = client.get(path)
        clean(path, page.text)
    clean("the log", caplog.text + "".join(str(r.__dict__) for r in caplog.records))
    with world["engine"].connect() as conn:
        for table in metadata.sorted_tables:
            clean(table.name, repr(conn.execute(select(table)).all()))
    env = {**os.environ, **world["env"], "PYTHONPATH": str(ROOT / "src"), "PARAPET_DATABASE_URL": world["db"].url}
    done = subprocess.run(
        [sys.executable, "-m", "parapet_cli", "doctor", "PAR207", "PAR208", "--format", "json"],
        cwd=world["tmp"], env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    clean("parapet doctor's output", done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    out, err = capfd.readouterr()
    clean("this process's stdout and stderr", out + err)
