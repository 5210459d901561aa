"""Slack's Acknowledge / Resolve buttons: the interactivity endpoint believes only Slack's v0 signature (5-minute
window, constant-time compare) and acts only as a mapped Parapet user who may act; everyone else changes nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from parapet.evidence import Alert, Store
from parapet.web import create_app
from parapet.web.slack import PATH, signature, verified
from tests.evidence.conftest import Database, postgres_db, sqlite_db  # noqa: F401
from tests.spec.test_spec_errors import GOOD_SLO, HEAD
from tests.web.helpers import write_users

SIGNING = "signing-secret-canary-0123456789abcdef"
SPEC = (
    HEAD
    + GOOD_SLO
    + """\
notifiers:
  ops-slack:
    kind: slack
    channel: C0PARAPET
    token_env: PARAPET_TEST_SLACK_TOKEN
    buttons: true
    signing_secret_env: PARAPET_TEST_SLACK_SIGNING
    users: {U0RITA: rita, U0VERA: vera, U0GHOST: ghost}
ui:
  users_file: users
"""
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Database:
    db: Database = request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "postgres_db")
    return db


@pytest.fixture
def store(database: Database) -> Iterator[Store]:
    engine = database.create_all()
    try:
        yield Store(engine)
    finally:
        engine.dispose()


@pytest.fixture
def client(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("PARAPET_TEST_SLACK_TOKEN", "xoxb-canary-token-0000000000")
    monkeypatch.setenv("PARAPET_TEST_SLACK_SIGNING", SIGNING)
    write_users(tmp_path / "users")  # vera viewer, rita responder, adam admin
    (tmp_path / "parapet.yaml").write_text(SPEC)
    app = create_app(spec_path=tmp_path / "parapet.yaml", store=store, session_secret="s" * 40)
    with TestClient(Starlette(routes=[Mount("/parapet", app=app)])) as c:
        yield c


def press(client: TestClient, action: str, incident_id: int, user: str, *, secret: str = SIGNING, age: int = 0):  # type: ignore[no-untyped-def]
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower()},
        "actions": [{"action_id": action, "value": f"ops-slack:{incident_id}", "type": "button"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time()) - age)
    headers = {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature(secret, stamp, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return client.post(f"/parapet{PATH}", content=body, headers=headers)


def opened(store: Store) -> int:
    alert = Alert(correlation_key="checkout/availability", alert_name="Burn", severity="critical", title="Burn")
    return store.open_or_touch(alert).incident.id


def test_a_mapped_responder_acknowledges_and_resolves(client: TestClient, store: Store) -> None:
    incident = opened(store)
    assert press(client, "parapet_acknowledge", incident, "U0RITA").status_code == 200
    assert (store.get(incident).state, store.get(incident).acknowledged_by) == ("acknowledged", "rita")
    # a second press of a button the message still showed is a no-op
    assert press(client, "parapet_acknowledge", incident, "U0RITA").status_code == 200
    assert press(client, "parapet_resolve", incident, "U0RITA").status_code == 200
    assert (store.get(incident).state, store.get(incident).resolved_by) == ("resolved", "rita")


@pytest.mark.parametrize(
    ("user", "kw", "status"),
    [
        ("U0EVE", {}, 403),  # no mapping
        ("U0GHOST", {}, 403),  # mapped to a name the users file does not have
        ("U0VERA", {}, 403),  # a viewer may not acknowledge
        ("U0RITA", {"secret": "another-apps-signing-secret-00"}, 401),  # not signed by this app
        ("U0RITA", {"age": 301}, 401),  # a replayed request, older than 5 minutes
        ("U0RITA", {"age": -301}, 401),
    ],
    ids=["unknown-user", "not-in-users-file", "viewer", "bad-signature", "too-old", "from-the-future"],
)
def test_refused_presses_change_nothing(
    client: TestClient, store: Store, user: str, kw: dict[str, object], status: int
) -> None:
    incident = opened(store)
    before = store.get(incident)
    response = press(client, "parapet_acknowledge", incident, user, **kw)  # type: ignore[arg-type]
    assert response.status_code == status
    assert store.get(incident) == before
    assert [e.kind for e in store.timeline(incident)] == ["opened"]


def test_unsigned_and_tampered_bodies_are_refused(client: TestClient, store: Store) -> None:
    incident = opened(store)
    assert client.post(f"/parapet{PATH}", content=b"payload=%7B%7D").status_code == 401
    stamp = str(int(time.time()))
    body = urlencode({"payload": json.dumps({"type": "block_actions"})}).encode()
    sent = signature(SIGNING, stamp, body)
    tampered = body.replace(b"block_actions", b"block_actionz")
    headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sent}
    assert client.post(f"/parapet{PATH}", content=tampered, headers=headers).status_code == 401
    assert store.get(incident).state == "open"


def test_signature_is_slacks_v0() -> None:
    # Slack's documented example (api.slack.com/authentication/verifying-requests-from-slack)
    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    stamp = "1531420618"
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
        b"channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
        b"response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert signature(secret, stamp, body) == expected
    assert verified(secret, stamp, body, expected, now=1531420618 + 299)
    assert not verified(secret, stamp, body, expected, now=1531420618 + 301)
