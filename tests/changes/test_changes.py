"""Change correlation: deploys and flag changes in, suspect changes, MCP's changes query and the annotation
gauge out. On SQLite and PostgreSQL; the OpenFeature SDK is the real one, with a small provider that emits the
provider-configuration-changed event (tests/changes/flagprovider.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openfeature import api
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from parapet.changes import DEPLOY, FLAG_CHANGE, ChangeError, record_deploy, record_flag_change
from parapet.changes.openfeature import track_flag_changes
from parapet.evidence import Alert, Store
from parapet.evidence.store import InvalidQuery
from parapet.web import create_app
from tests.changes.flagprovider import MemoryProvider, wait_recorded

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TOKEN = "changes-token-0123456789"


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(engine: Engine, clock: Clock) -> Store:
    return Store(engine, clock=clock)


@pytest.fixture
def flags() -> Iterator[MemoryProvider]:
    provider = MemoryProvider({"new-checkout": False, "dark-mode": False}, name="memory-flags")
    api.set_provider(provider)
    yield provider
    api.clear_providers()


def _incident(store: Store, clock: Clock, service: str = "shop") -> int:
    return store.open_or_touch(
        Alert(correlation_key=f"{service}/availability", alert_name="X", severity="page", title="t", service=service)
    ).incident.id


def test_a_deploy_and_an_openfeature_change_are_suspects_of_the_incident_after_them(
    store: Store, clock: Clock, flags: MemoryProvider
) -> None:
    stop = track_flag_changes(store, service="shop")
    try:
        clock.at = NOW - timedelta(minutes=10)
        record_deploy(store, service="shop", version="1.4.2", actor="ci", url="https://ci.example/run/81")
        clock.at = NOW - timedelta(minutes=4)
        flags.set({"new-checkout": True}, message="rollout 50%")
        wait_recorded(store, 2)
        assert api.get_client().get_boolean_value("new-checkout", False) is True
        clock.at = NOW - timedelta(minutes=2)
        record_deploy(store, service="search", version="9", actor="ci")  # another service: not a suspect
        clock.at = NOW
        incident = store.get(_incident(store, clock))
    finally:
        stop()
    flags.set({"dark-mode": True})  # after stop(): not recorded
    time.sleep(0.2)
    suspects = store.changes_before(incident)
    assert [(c.kind, c.service) for c in suspects] == [(FLAG_CHANGE, "shop"), (DEPLOY, "shop")]
    flag, deploy = suspects
    assert flag.data == {"flags": ["new-checkout"], "provider": "memory-flags"}
    assert flag.actor == "system:openfeature" and "rollout 50%" in (flag.message or "")
    assert deploy.data == {"version": "1.4.2", "url": "https://ci.example/run/81"}
    assert deploy.occurred_at == NOW - timedelta(minutes=10)
    # the window: a deploy 10 minutes before is outside a 5-minute window
    assert [c.kind for c in store.changes_before(incident, window=timedelta(minutes=5))] == [FLAG_CHANGE]


def test_the_changes_query_pages_a_window_by_service_and_kind(store: Store, clock: Clock) -> None:
    for minute in range(7):
        clock.at = NOW - timedelta(minutes=minute)
        record_deploy(store, service="shop", version=f"v{minute}")
    clock.at = NOW - timedelta(minutes=3)
    record_flag_change(store, flags=["a"], service=None)
    record_deploy(store, service="search", version="s1")
    window = {"since": NOW - timedelta(minutes=5), "until": NOW}
    first = store.changes(**window, service="shop", limit=4)
    assert [c.data.get("version") for c in first.items] == ["v0", "v1", "v2", None]  # newest first; None: the flag
    assert first.next_cursor is not None
    rest = store.changes(**window, service="shop", limit=4, cursor=first.next_cursor)
    assert [c.data.get("version") for c in rest.items] == ["v3", "v4", "v5"] and rest.next_cursor is None
    assert [c.kind for c in store.changes(**window, kinds=[FLAG_CHANGE]).items] == [FLAG_CHANGE]
    assert len(store.changes(**window).items) == 8  # every service
    with pytest.raises(InvalidQuery):
        store.changes(**window, limit=10_000)
    with pytest.raises(InvalidQuery, match="invalid changes cursor"):
        store.changes(**window, cursor="garbage")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"service": "", "version": "1"}, "service is missing"),
        ({"service": "shop", "version": " "}, "version is missing"),
        ({"service": "shop", "version": "1\n2"}, "version is not a short one-line text"),
        ({"service": "shop", "version": "1", "url": "javascript:alert(1)"}, "url is not an http"),
    ],
)
def test_a_bad_deploy_is_refused_naming_the_field(store: Store, fields: dict[str, str], message: str) -> None:
    with pytest.raises(ChangeError, match=message):
        record_deploy(store, **fields)  # type: ignore[arg-type]
    assert store.changes(since=NOW - timedelta(days=1), until=NOW + timedelta(days=1)).items == ()


def _host(store: Store, **options: object) -> Starlette:
    return Starlette(routes=[Mount("/parapet", app=create_app(spec_path=None, store=store, **options))])  # type: ignore[arg-type]


def test_the_http_endpoint_takes_deploys_and_flag_changes_with_a_bearer_token(store: Store, clock: Clock) -> None:
    with TestClient(_host(store, webhook_tokens=[TOKEN])) as client:
        url = "/parapet/changes"
        deploy = {"kind": "deploy", "service": "shop", "version": "2.0", "actor": "ci", "url": "https://ci/r/1"}
        assert client.post(url, json=deploy).status_code == 401
        assert client.post(url, json=deploy, headers={"Authorization": "Bearer wrong"}).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        created = client.post(url, json=deploy, headers=auth)
        assert created.status_code == 201, created.text
        flag = {"kind": "flag_change", "flags": ["dark-mode"], "provider": "flagd", "at": "2026-06-01T11:55:00Z"}
        assert client.post(url, json=flag, headers=auth).status_code == 201
        bad = client.post(url, json={"kind": "deploy", "service": "shop"}, headers=auth)
        assert bad.status_code == 400 and "version is missing" in bad.json()["error"]
        assert client.post(url, content=b"{nope", headers=auth).status_code == 400
        assert client.post(url, json={"kind": "rollback"}, headers=auth).status_code == 400
        assert client.post(url, json={"kind": "flag_change", "flags": "x"}, headers=auth).status_code == 400
        assert client.post(url, content=b"[" * 70_000, headers=auth).status_code == 413
    page = store.changes(since=NOW - timedelta(hours=1), until=NOW)
    assert [(c.kind, c.occurred_at) for c in page.items] == [(DEPLOY, NOW), (FLAG_CHANGE, NOW - timedelta(minutes=5))]
    assert page.items[0].actor == "ci" and page.items[1].data["flags"] == ["dark-mode"]


def test_the_endpoint_reads_its_own_token_file_from_the_spec(store: Store, tmp_path: Path) -> None:
    (tmp_path / "changes.token").write_text("ci-only-token-0123\n")
    spec = tmp_path / "parapet.yaml"
    spec.write_text(
        "version: parapet/v1\nservice: shop\nchanges: {token_file: changes.token, window: 30m}\n"
        "slos:\n  - name: a\n    objective: 99\n    sli: {http: {}}\n    alerting: {runbook_url: https://r/x}\n"
    )
    host = Starlette(routes=[Mount("/parapet", app=create_app(spec_path=spec, store=store, webhook_tokens=[TOKEN]))])
    with TestClient(host) as client:
        body = {"kind": "deploy", "service": "shop", "version": "3"}
        assert (
            client.post("/parapet/changes", json=body, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 401
        )
        ok = client.post("/parapet/changes", json=body, headers={"Authorization": "Bearer ci-only-token-0123"})
        assert ok.status_code == 201


def test_metrics_carry_the_newest_change_per_service_and_kind(store: Store, clock: Clock) -> None:
    clock.at = NOW - timedelta(minutes=30)
    record_deploy(store, service="shop", version="1")
    clock.at = NOW - timedelta(minutes=10)
    record_deploy(store, service="shop", version="2")
    record_flag_change(store, flags=["a"])
    with TestClient(_host(store, webhook_tokens=[TOKEN])) as client:
        text = client.get("/parapet/metrics").text
    samples = {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "parapet_change_last_timestamp_seconds"
        for sample in family.samples
    }
    newest = (NOW - timedelta(minutes=10)).timestamp()
    assert samples == {
        (("kind", "deploy"), ("service", "shop")): newest,
        (("kind", "flag_change"), ("service", "")): newest,
    }


def test_parapet_mark_deploy_writes_to_the_store(cli, database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine = database.create_all()
    try:
        result = cli(
            "mark", "deploy", "--service", "shop", "--version", "7.1", "--actor", "ci",
            "--url", "https://ci.example/7", "--database-url", database.url, "--format", "json",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        flagged = cli(
            "mark", "flag", "--flag", "a", "--flag", "b", "--provider", "flagd", "--database-url", database.url
        )
        assert flagged.exit_code == 0, flagged.output
        bad = cli(
            "mark", "deploy", "--service", "shop", "--version", "1", "--url", "ftp://x", "--database-url", database.url
        )
        assert bad.exit_code == 3 and "error: --url is not an http(s) link" in bad.stderr
        store = Store(engine)
        items = store.changes(since=datetime.now(UTC) - timedelta(minutes=5), until=datetime.now(UTC)).items
        assert [(c.kind, c.data.get("version"), c.data.get("flags")) for c in items] == [
            (FLAG_CHANGE, None, ["a", "b"]),
            (DEPLOY, "7.1", None),
        ]
        assert '"kind": "deploy"' in result.stdout
    finally:
        engine.dispose()
