"""POST /parapet/webhook through the real ASGI stack, on SQLite and PostgreSQL: every answer, exactly."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from parapet.evidence.db import create_engine_for
from parapet.evidence.schema import alert_instances, incidents, webhook_deliveries
from parapet.evidence.store import Store
from parapet.web import create_app
from tests.alerts.conftest import MINI_SPEC, alert, payload

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def client_for(store: Store, **kwargs: Any) -> TestClient:
    kwargs.setdefault("webhook_tokens", [TOKEN])
    app = create_app(spec_path=None, store=store, **kwargs)
    return TestClient(Starlette(routes=[Mount("/parapet", app=app)]))


def rows(store: Store, table) -> int:  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_delivery_is_committed_then_answered(store: Store) -> None:
    with client_for(store) as client:
        response = client.post("/parapet/webhook", json=payload(alert(), alert(instance="b")), headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and len(body["opened"]) == 1 and body["alerts"] == 2
    assert rows(store, incidents) == 1 and rows(store, alert_instances) == 2 and rows(store, webhook_deliveries) == 1


BAD_BODIES = [
    (b"{not json", "the body is not JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    (b"[1, 2]", "the payload must be a JSON object, not a list"),
    (b'{"alerts": []}', 'version: missing; Parapet reads Alertmanager\'s webhook payload version "4"'),
    (
        b'{"version": "3", "alerts": []}',
        'version: "3" is not supported; Parapet reads Alertmanager\'s webhook payload version "4"',
    ),
    (
        b'{"version": 4, "alerts": []}',
        'version: 4 is not supported; Parapet reads Alertmanager\'s webhook payload version "4"',
    ),
    (b'{"version": "4"}', "alerts: missing"),
    (b'{"version": "4", "alerts": {}}', "alerts: must be a list, not an object"),
    (b'{"version": "4", "alerts": [], "truncatedAlerts": -1}', "truncatedAlerts: must be a whole number >= 0, not -1"),
    (b'{"version": "4", "alerts": [7]}', "alerts[0]: must be an object, not a number"),
    (
        b'{"version": "4", "alerts": [{"status": "pending", "labels": {}}]}',
        'alerts[0].status: must be "firing" or "resolved", not "pending"',
    ),
    (b'{"version": "4", "alerts": [{"status": "firing"}]}', "alerts[0].labels: missing"),
    (b'{"version": "4", "alerts": [{"status": "firing", "labels": []}]}', "alerts[0].labels: must be an object"),
    (
        b'{"version": "4", "alerts": [{"status": "firing", "labels": {}, "annotations": "x"}]}',
        "alerts[0].annotations: must be an object, not a string",
    ),
    (
        b'{"version": "4", "alerts": [{"status": "firing", "labels": {}}]}',
        "alerts[0].startsAt: missing or the zero time; every alert has a start",
    ),
    (
        b'{"version": "4", "alerts": [{"status": "firing", "labels": {}, "startsAt": "yesterday"}]}',
        'alerts[0].startsAt: not an RFC 3339 time: "yesterday"',
    ),
    (
        b'{"version": "4", "alerts": [{"status": "firing", "labels": {}, "startsAt": "2026-02-30T00:00:00Z"}]}',
        'alerts[0].startsAt: not a valid time: "2026-02-30T00:00:00Z"',
    ),
    (
        b'{"version": "4", "alerts": [{"status": "resolved", "labels": {}, "startsAt": "2026-01-01T00:00:00Z",'
        b' "endsAt": 5}]}',
        "alerts[0].endsAt: not an RFC 3339 time: 5",
    ),
    (b"\xff\xfe", "the body is not JSON: it is not UTF-8 text"),
    (b"[" * 100_000 + b"]" * 100_000, "the body is not JSON Parapet can read: maximum recursion depth exceeded"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES, ids=[m[:40] for _, m in BAD_BODIES])
def test_bad_bodies_are_400_with_what_is_wrong(store: Store, body: bytes, message: str) -> None:
    with client_for(store) as client:
        response = client.post("/parapet/webhook", content=body, headers=AUTH)
    assert response.status_code == 400
    got = response.json()["error"]
    assert got.startswith(message), got
    assert rows(store, webhook_deliveries) == 0


def test_over_8_mib_is_413(store: Store) -> None:
    big = payload(alert(annotations={"blob": "x" * (8 * 1024 * 1024)}))
    with client_for(store) as client:
        response = client.post("/parapet/webhook", content=json.dumps(big).encode(), headers=AUTH)
        chunked = client.post(
            "/parapet/webhook", content=(b"x" * 1024 * 1024 for _ in range(9)), headers=AUTH
        )  # no Content-Length: counted while read
    assert response.status_code == 413 and response.json() == {"error": "the body is over 8 MiB"}
    assert chunked.status_code == 413
    assert rows(store, webhook_deliveries) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Token {TOKEN}"},
        {"Authorization": "Basic " + base64.b64encode(b"parapet:wrong").decode()},
        {"Authorization": "Basic !!!"},
    ],
    ids=["none", "wrong", "longer", "scheme", "basic-wrong", "basic-garbage"],
)
def test_wrong_credentials_are_401_and_create_nothing(store: Store, headers: dict[str, str]) -> None:
    with client_for(store) as client:
        response = client.post("/parapet/webhook", json=payload(alert()), headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "missing or wrong credentials"}
    assert response.headers["www-authenticate"] == 'Bearer realm="parapet"'
    assert rows(store, incidents) == 0 and rows(store, webhook_deliveries) == 0


def test_basic_auth_and_two_tokens_during_rotation(store: Store, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    token_file = tmp_path / "token"
    token_file.write_text("# current, then next\nold-token\nnew-token\n")
    monkeypatch.setenv("PARAPET_WEBHOOK_TOKEN_FILE", str(token_file))
    with client_for(store, webhook_tokens=None) as client:
        basic = "Basic " + base64.b64encode(b"alertmanager:old-token").decode()
        assert (
            client.post("/parapet/webhook", json=payload(alert()), headers={"Authorization": basic}).status_code == 200
        )
        assert (
            client.post(
                "/parapet/webhook", json=payload(alert()), headers={"Authorization": "Bearer new-token"}
            ).status_code
            == 200
        )
        token_file.write_text("new-token\n")  # rotation done: re-read on change
        assert (
            client.post(
                "/parapet/webhook", json=payload(alert()), headers={"Authorization": "Bearer old-token"}
            ).status_code
            == 401
        )
        assert (
            client.post(
                "/parapet/webhook", json=payload(alert()), headers={"Authorization": "Bearer new-token"}
            ).status_code
            == 200
        )


def test_token_file_from_the_spec(store: Store, tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "hook").write_text("from-spec\n")
    spec = tmp_path / "parapet.yaml"
    spec.write_text(MINI_SPEC + "alertmanager: {webhook_token_file: secrets/hook}\n")
    app = create_app(spec_path=spec, store=store)
    with TestClient(app) as client:
        assert (
            client.post("/webhook", json=payload(alert()), headers={"Authorization": "Bearer from-spec"}).status_code
            == 200
        )
        assert client.post("/webhook", json=payload(alert()), headers=AUTH).status_code == 401


def test_no_credentials_configured_refuses(store: Store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("PARAPET_WEBHOOK_TOKEN_FILE", raising=False)
    with client_for(store, webhook_tokens=None) as client:
        response = client.post("/parapet/webhook", json=payload(alert()))
    assert response.status_code == 401
    assert response.json()["error"].startswith("the webhook has no credentials configured")


def test_unreadable_token_file_is_503_not_401(store: Store, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PARAPET_WEBHOOK_TOKEN_FILE", str(tmp_path / "absent"))
    with client_for(store, webhook_tokens=None) as client:
        response = client.post("/parapet/webhook", json=payload(alert()), headers=AUTH)
    assert response.status_code == 503 and response.headers["retry-after"] == "5"


def test_database_unavailable_is_503_with_retry_after() -> None:
    store = Store(create_engine_for("postgresql://nobody:pw-never-shown@127.0.0.1:1/none", busy_timeout_s=2))
    with client_for(store) as client:
        response = client.post("/parapet/webhook", json=payload(alert()), headers=AUTH)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"].startswith("the incident store is unavailable or busy: ")
    assert "pw-never-shown" not in response.text


def test_sqlite_busy_is_503_after_the_short_timeout(tmp_path: Path) -> None:
    from parapet.evidence.schema import metadata

    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = create_engine_for(url, busy_timeout_s=0.3)
    metadata.create_all(engine)
    blocker = create_engine_for(url)
    with blocker.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # another writer holds the lock
        with client_for(Store(engine)) as client:
            response = client.post("/parapet/webhook", json=payload(alert()), headers=AUTH)
        conn.rollback()
    assert response.status_code == 503
    assert "database is locked" in response.json()["error"]


def test_missing_tables_is_503(tmp_path: Path) -> None:
    store = Store(create_engine_for(f"sqlite:///{tmp_path / 'empty.db'}"))
    with client_for(store) as client:
        response = client.post("/parapet/webhook", json=payload(alert()), headers=AUTH)
    assert response.status_code == 503 and "no such table" in response.json()["error"]


def test_odd_labels_times_and_missing_fingerprints(store: Store) -> None:
    odd = {
        "status": "firing",
        "labels": {
            "alertname": "Odd",
            "n": 5,
            "flag": True,
            "none": None,
            "nested": {"a": [1]},
            "huge": "v" * 100_000,
            "nul": "a\x00b",
            **{f"z{i:03d}": "x" for i in range(100)},
            "severity": "page",
        },
        "annotations": {"summary": "<script>alert(1)</script>", "big": "a" * 50_000},
        "startsAt": "2026-12-06T20:00:00.123456789+08:00",
        "endsAt": "0001-01-01T00:00:00Z",
    }
    with client_for(store) as client:
        response = client.post("/parapet/webhook", json={"version": "4", "alerts": [odd]}, headers=AUTH)
    assert response.status_code == 200, response.text
    (incident,) = store.queue().items
    (instance,) = store.alert_instances(incident.id)
    assert instance.starts_at.isoformat() == "2026-12-06T12:00:00.123456+00:00"
    assert instance.ends_at is None
    assert len(instance.labels) == 64 and instance.labels["severity"] == "page"  # kept first, over the limit
    assert instance.labels["flag"] == "true" and instance.labels["n"] == "5" and instance.labels["none"] == ""
    assert len(instance.labels["huge"]) == 1024 and instance.labels["huge"].endswith("…")
    assert instance.labels["nul"] == "a\ufffdb"
    assert len(instance.annotations["big"]) == 8192
    assert instance.annotations["summary"] == "<script>alert(1)</script>"  # stored as is; escaped when shown
    assert len(instance.fingerprint) == 16  # computed, as Alertmanager would, from the labels received


def test_never_429_even_in_a_burst(store: Store) -> None:
    with client_for(store) as client:
        codes = {
            client.post("/parapet/webhook", json=payload(alert(instance=str(i))), headers=AUTH).status_code
            for i in range(50)
        }
    assert codes == {200}


def test_postgres_lock_held_past_the_short_timeout_is_503(postgres_db) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from parapet.evidence.schema import metadata

    setup = create_engine_for(postgres_db.url)
    metadata.create_all(setup)
    store = Store(create_engine_for(postgres_db.url, busy_timeout_s=1))
    try:
        with client_for(store) as client:
            assert client.post("/parapet/webhook", json=payload(alert()), headers=AUTH).status_code == 200
            with setup.connect() as holder:
                holder.execute(text("SELECT id FROM parapet_incidents FOR UPDATE"))  # another writer's row lock
                response = client.post("/parapet/webhook", json=payload(alert()), headers=AUTH)
                holder.rollback()
            again = client.post("/parapet/webhook", json=payload(alert()), headers=AUTH)
    finally:
        store.engine.dispose()
        setup.dispose()
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert "lock timeout" in response.json()["error"]
    assert again.status_code == 200 and again.json()["repeated"] == 1


def test_newer_alertmanager_fields_are_accepted(store: Store) -> None:
    """Alertmanager 0.32+ adds notification_reason, 0.34 routeLabels (not sent by Debian's 0.25)."""
    body = payload(alert(), notification_reason="new alerts added", routeLabels={"team": "db"})
    with client_for(store) as client:
        response = client.post("/parapet/webhook", json=body, headers=AUTH)
    assert response.status_code == 200 and len(response.json()["opened"]) == 1
