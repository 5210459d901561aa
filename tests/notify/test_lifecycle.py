"""One incident's life through the real runtime: Alertmanager's webhook opens it and adds three alerts, Slack's
buttons acknowledge and resolve it, the work engine delivers the outbox to a fake Slack API (driven by the real
slack_sdk client) and to a signed webhook on loopback. The fake answers 429 with Retry-After and
message_not_found on cue; the recorded requests are exactly the expected posts and updates, and the last
message says who resolved it. Then canary secrets (the Slack token, the signing secret, the webhook's URL and
key) are looked for everywhere Parapet writes: logs, stderr, every table, the archive, the HTML pages."""

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
from urllib.parse import urlencode

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from parapet.alerts.worker import Worker
from parapet.evidence import Store
from parapet.evidence.schema import metadata
from parapet.notify import secrets as notify_secrets
from parapet.web import create_app
from parapet.web.slack import PATH, signature
from tests.alerts.conftest import alert, payload
from tests.evidence.conftest import Database, postgres_db, sqlite_db  # noqa: F401
from tests.notify.fake_slack import FakeSlack
from tests.notify.helpers import receiver
from tests.spec.test_spec_errors import GOOD_SLO, HEAD
from tests.web.helpers import write_users

TOKEN = "xoxb-CANARY-slack-token-7f3a9c1e"
SIGNING = "CANARY-signing-secret-1b2c3d4e5f"
HOOK_TOKEN = "CANARY-hook-url-token-9d8e7f6a"
HOOK_KEY = "CANARY-hook-hmac-key-5a6b7c8d"
CANARIES = ("CANARY", TOKEN, SIGNING, HOOK_TOKEN, HOOK_KEY)
ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def spec_text(api_url: str) -> str:
    return (
        HEAD
        + GOOD_SLO
        + f"""\
notifiers:
  ops-slack:
    kind: slack
    channel: C0PARAPET
    token_env: PARAPET_TEST_SLACK_TOKEN
    announce: true
    buttons: true
    signing_secret_env: PARAPET_TEST_SLACK_SIGNING
    users: {{U0RITA: rita, U0ADAM: adam}}
    api_url: {api_url}
  ops-hook:
    kind: webhook
    url_env: PARAPET_TEST_HOOK_URL
    secret_env: PARAPET_TEST_HOOK_KEY
    announce: true
ui:
  users_file: users
  url: https://parapet.example.com/parapet
"""
    )


def press(client: TestClient, action: str, incident_id: int, user: str) -> int:
    body = urlencode(
        {
            "payload": json.dumps(
                {
                    "type": "block_actions",
                    "user": {"id": user},
                    "actions": [{"action_id": action, "value": f"ops-slack:{incident_id}"}],
                }
            )
        }
    ).encode()
    stamp = str(int(time.time()))
    headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature(SIGNING, stamp, body)}
    return client.post(f"/parapet{PATH}", content=body, headers=headers).status_code


def pod(n: int, starts: datetime) -> dict[str, Any]:
    return alert(
        "CheckoutErrors", starts=starts, service="checkout", slo="availability", severity="critical", pod=f"p{n}"
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Database:
    db: Database = request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "postgres_db")
    return db


@pytest.fixture
def world(tmp_path: Path, database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    notify_secrets.forget_all()
    with FakeSlack(TOKEN).running() as slack, receiver() as hook:
        env = {
            "PARAPET_TEST_SLACK_TOKEN": TOKEN,
            "PARAPET_TEST_SLACK_SIGNING": SIGNING,
            "PARAPET_TEST_HOOK_URL": f"{hook.url}/hook?token={HOOK_TOKEN}",
            "PARAPET_TEST_HOOK_KEY": HOOK_KEY,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        write_users(tmp_path / "users")  # vera viewer, rita responder, adam admin
        spec = tmp_path / "parapet.yaml"
        spec.write_text(spec_text(slack.url))
        clock = Clock(datetime.now(UTC).replace(microsecond=0) - timedelta(days=2))
        engine = database.create_all()
        store = Store(engine, clock=clock)
        app = create_app(
            spec_path=spec, store=store, session_secret="s" * 40, insecure_webhook=True, insecure_local=True
        )
        from parapet.spec import load_spec

        worker = Worker(store, spec=load_spec(spec))
        with TestClient(Starlette(routes=[Mount("/parapet", app=app)])) as client:
            yield {
                "slack": slack,
                "hook": hook,
                "clock": clock,
                "store": store,
                "client": client,
                "worker": worker,
                "db": database,
                "spec": spec,
                "env": env,
                "tmp": tmp_path,
            }
        engine.dispose()


def run(w: dict[str, Any], **advance: float) -> list[Any]:
    w["clock"].at += timedelta(**advance)
    return [o for o in w["worker"].engine.run_once() if o.job.kind == "notify"]


def test_one_incident_life_in_slack_and_no_secret_anywhere(
    world: dict[str, Any], caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    slack: FakeSlack = world["slack"]
    client: TestClient = world["client"]
    store: Store = world["store"]
    t0 = world["clock"].at
    world["hook"].statuses.append(500)  # the webhook's first delivery fails: a notify_failed entry, a job error

    def deliver(*pods: int) -> None:
        response = client.post("/parapet/webhook", json=payload(*(pod(n, t0) for n in pods)))
        assert response.status_code == 200, response.text

    # opened: one post; the webhook fails once
    deliver(1)
    outcomes = run(world)
    assert sorted(o.outcome for o in outcomes) == ["done", "failed"]
    incident_id = store.queue().items[0].id
    assert [r.method for r in slack.requests] == ["chat.postMessage"]

    # three alerts join within half a second: coalesced, not due before the last post + 2 s
    for n in (2, 3, 4):
        deliver(n)
    assert [e.kind for e in store.timeline(incident_id)].count("instance_added") == 3
    assert run(world, seconds=0.5) == []
    slack.rate_limit("chat.update", retry_after=3)
    assert [o.outcome for o in run(world, seconds=1.5) if o.job.key.startswith("ops-slack")] == ["retry"]
    assert [o.outcome for o in run(world, seconds=2)] == []  # Retry-After is 3 s: nothing before
    assert sorted(o.outcome for o in run(world, seconds=1)) == ["done"]
    run(world, seconds=30)  # the webhook's retry (backoff) delivers "opened"
    assert len(slack.calls("chat.update")) == 1 and "4 firing" in json.dumps(slack.calls("chat.update")[0].body)

    # acknowledged from Slack by rita; the message was deleted meanwhile: posted anew, and remembered
    slack.fail("chat.update", "message_not_found")
    world["clock"].at += timedelta(seconds=10)
    assert press(client, "parapet_acknowledge", incident_id, "U0RITA") == 200
    assert store.get(incident_id).acknowledged_by == "rita"
    run(world)

    # resolved from Slack by adam: the new message is updated
    world["clock"].at += timedelta(seconds=10)
    assert press(client, "parapet_resolve", incident_id, "U0ADAM") == 200
    run(world)
    assert run(world, seconds=60) == []  # nothing left to send

    methods = [(r.method, r.status, r.answer.get("error")) for r in slack.requests]
    assert methods == [
        ("chat.postMessage", 200, None),
        ("chat.update", 429, "ratelimited"),
        ("chat.update", 200, None),
        ("chat.update", 200, "message_not_found"),
        ("chat.postMessage", 200, None),
        ("chat.update", 200, None),
    ]
    second = slack.requests[4].answer["ts"]
    final = slack.requests[-1].body
    assert final["ts"] == second and final["channel"] == "C0PARAPET"
    assert final["text"].startswith(f"[RESOLVED] #{incident_id} ") and final["text"].endswith("Resolved by adam")
    facts = json.dumps(final["blocks"])
    assert "by adam" in facts and "by rita" in facts and "parapet_acknowledge" not in facts
    assert f"https://parapet.example.com/parapet/incidents/{incident_id}" in facts

    # the webhook: one signed POST per state change (the failed first try retried), the URL's token on the wire
    hook_events = [{k.lower(): v for k, v in r.headers.items()}.get("parapet-event") for r in world["hook"].requests]
    assert hook_events == ["opened", "opened", "acknowledged", "resolved"]
    assert all(HOOK_TOKEN in r.path for r in world["hook"].requests)
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in slack.requests)

    # every delivery and failure is on the timeline, with its notifier and target
    entries = [(e.kind, e.data.get("target"), e.data.get("outcome")) for e in store.timeline(incident_id)]

    def of(target: str) -> list[tuple[str, str | None]]:
        return [(k, outcome) for k, t, outcome in entries if t == target and k in ("notified", "notify_failed")]

    assert of("ops-slack") == [
        ("notified", "posted"),
        ("notified", "updated"),
        ("notified", "reposted"),
        ("notified", "updated"),
    ]
    assert of("ops-hook") == [("notify_failed", "failed"), *[("notified", "posted")] * 3]

    # the incident page says where it was announced
    page = client.get(f"/parapet/incidents/{incident_id}")
    assert page.status_code == 200
    assert "Announced" in page.text and "ops-slack" in page.text and f"C0PARAPET:{second}" in page.text
    pages = [page.text, client.get("/parapet/").text, client.get("/parapet/?state=resolved").text]

    # -- the canaries -------------------------------------------------------------------------------------
    def clean(where: str, text: str) -> None:
        for canary in CANARIES:
            assert canary not in text, f"{canary!r} leaked into {where}"

    for i, html in enumerate(pages):
        clean(f"page {i}", html)
    clean("the log", caplog.text + "".join(str(r.__dict__) for r in caplog.records))
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            clean(table.name, repr(conn.execute(select(table)).all()))
    if world["db"].url.startswith("sqlite"):
        raw = Path(world["db"].url.removeprefix("sqlite:///")).read_bytes()
        assert b"CANARY" not in raw, "a canary is in the database file"
    env = {**os.environ, **world["env"], "PYTHONPATH": str(ROOT / "src"), "PARAPET_DATABASE_URL": world["db"].url}
    archive = world["tmp"] / "archive.jsonl"
    for argv in (
        ["archive", "--older-than", "1d", "--archive-file", str(archive), "--spec", str(world["spec"])],
        ["doctor", "PAR208", "--format", "json"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "parapet_cli", *argv],
            cwd=world["tmp"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        clean(f"parapet {argv[0]}'s output", done.stdout + done.stderr)
        assert done.returncode == 0, done.stdout + done.stderr
    archived = archive.read_text()
    assert '"notified"' in archived and '"notify_failed"' in archived
    clean("the archive", archived)
    out, err = capfd.readouterr()
    clean("this process's stdout and stderr", out + err)


def test_an_escalation_job_and_the_announcement_never_both_post(world: dict[str, Any]) -> None:
    """A new incident's announcement (the slot job) and an escalation tier's job for the same Slack target are due
    together: one delivery claims the (target, incident) row, the other waits, then updates the one message."""
    from parapet.work import enqueue

    slack: FakeSlack = world["slack"]
    store: Store = world["store"]
    world["worker"].engine.concurrency = 4
    response = world["client"].post("/parapet/webhook", json=payload(pod(1, world["clock"].at)))
    assert response.status_code == 200
    incident_id = store.queue().items[0].id
    with store.engine.begin() as conn:  # what an escalation step writes for its tier's targets
        enqueue(
            conn,
            "notify",
            f"ops-slack:{incident_id}:999",
            due_at=world["clock"].at,
            payload={"target": "ops-slack", "incident_id": incident_id, "event": "escalated", "tier": 0},
        )
    first = run(world)
    assert sorted(o.outcome for o in first if o.job.key.startswith("ops-slack")) == ["done", "retry"]
    run(world, seconds=3)
    assert [r.method for r in slack.calls()] == ["chat.postMessage", "chat.update"]


def test_a_secret_in_an_error_is_masked_everywhere(world: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    """Slack answering with the token in its error (a worst case): the timeline, the job's error and the log
    carry [redacted], never the token."""
    from parapet.evidence.schema import jobs

    caplog.set_level(logging.DEBUG)
    slack: FakeSlack = world["slack"]
    slack.fail("chat.postMessage", f"invalid_auth_for_{TOKEN}")
    assert world["client"].post("/parapet/webhook", json=payload(pod(1, world["clock"].at))).status_code == 200
    incident_id = world["store"].queue().items[0].id
    run(world)
    assert TOKEN in slack.requests[0].answer["error"]  # it did come back from "Slack"
    failed = [e for e in world["store"].timeline(incident_id) if e.kind == "notify_failed"]
    assert [e.data["target"] for e in failed] == ["ops-slack"]
    assert "[redacted]" in (failed[0].message or "") and TOKEN not in (failed[0].message or "")
    with world["store"].engine.connect() as conn:
        errors = [r.last_error for r in conn.execute(select(jobs.c.last_error).where(jobs.c.kind == "notify"))]
    assert any(e and "[redacted]" in e for e in errors) and not any(e and TOKEN in e for e in errors)
    assert TOKEN not in caplog.text


def test_a_missing_token_is_a_failure_on_the_timeline(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARAPET_TEST_SLACK_TOKEN")
    assert world["client"].post("/parapet/webhook", json=payload(pod(1, world["clock"].at))).status_code == 200
    incident_id = world["store"].queue().items[0].id
    outcomes = {o.job.key.split(":")[0]: o.outcome for o in run(world)}
    assert outcomes == {"ops-slack": "failed", "ops-hook": "done"}
    (failed,) = [e for e in world["store"].timeline(incident_id) if e.kind == "notify_failed"]
    assert failed.data["target"] == "ops-slack" and "PARAPET_TEST_SLACK_TOKEN" in (failed.message or "")
    assert world["slack"].requests == []
