"""Alertmanager (Debian's prometheus-alertmanager) delivering to `parapet serve` on loopback, with the receiver
`parapet install` wrote; timers of seconds. Also: our fingerprint is Alertmanager's own, and the reconciler
against Alertmanager's API."""

from __future__ import annotations

import re
import secrets
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from parapet.alerts import fingerprint
from parapet.alerts.worker import SYSTEM_RECONCILER, reconcile
from parapet.evidence.db import create_engine_for
from parapet.evidence.schema import metadata, webhook_deliveries
from parapet.evidence.store import Store
from tests.alerts.harness import (
    ROOT,
    alertmanager,
    am_alert,
    http,
    parapet_serve,
    post_alerts,
    private_postgres,
    wait_until,
)

SPEC = """\
version: parapet/v1
service: synth
alerting:
  runbook_url: https://runbooks.example.com/{slo}
  page: {for: 0s}
  ticket: {for: 0s}
alertmanager:
  webhook_token_file: alertmanager/secrets/parapet-webhook-token
slos:
  - name: availability
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(synthetic_requests_total{code="500"}[{{window}}]))
        total_query: sum(rate(synthetic_requests_total[{{window}}]))
"""


@dataclass
class Host:
    root: Path
    token: str

    @property
    def am_source(self) -> Path:
        return self.root / "alertmanager" / "alertmanager.yml"

    def am_config(
        self,
        serve_url: str,
        name: str = "am",
        *,
        wait: str = "1s",
        interval: str = "1s",
        repeat: str = "3s",
        token_file: str | None = None,
    ) -> Path:
        """install's alertmanager.yml, its webhook URL pointed at this test's port and its timers shortened."""
        config = yaml.safe_load(self.am_source.read_text())
        (receiver,) = [r for r in config["receivers"] if r["name"] == "parapet-synth"]
        hook = receiver["webhook_configs"][0]
        hook["url"] = f"{serve_url}/parapet/webhook"
        if token_file is not None:
            hook["http_config"]["authorization"]["credentials_file"] = token_file
        for route in (config["route"], *config["route"]["routes"]):
            route.update(group_wait=wait, group_interval=interval, repeat_interval=repeat)
        out = self.am_source.with_name(f"{name}.yml")
        out.write_text(yaml.safe_dump(config))
        return out


def install_host(tmp: Path) -> Host:
    root = tmp / "host"
    root.mkdir()
    (root / "parapet.yaml").write_text(SPEC)
    done = subprocess.run(
        [sys.executable, "-m", "parapet_cli", "install", "--with", "alertmanager"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "HOME": str(tmp)},
    )
    assert done.returncode == 0, done.stderr
    token = secrets.token_urlsafe(24)
    secret = root / "alertmanager" / "secrets" / "parapet-webhook-token"
    secret.parent.mkdir(parents=True)
    secret.write_text(token + "\n")
    return Host(root, token)


def migrate_sqlite(host: Host) -> str:
    """Apply the SQL files install wrote (no schema tool in this host), as the host would."""
    path = host.root / ".parapet" / "parapet.db"
    path.parent.mkdir(exist_ok=True)
    with sqlite3.connect(path) as conn:
        for name in sorted((host.root / "sql").glob("parapet_spine*.sqlite.sql")):  # v1, then 0002, 0003, …
            conn.executescript(name.read_text())
    return f"sqlite:///{path}"


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return install_host(tmp_path)


@pytest.fixture
def sqlite_store(host: Host) -> Iterator[tuple[str, Store]]:
    url = migrate_sqlite(host)
    engine = create_engine_for(url)
    try:
        yield url, Store(engine)
    finally:
        engine.dispose()


def incidents_of(store: Store) -> list[Any]:
    return list(store.queue(states=("open", "acknowledged", "resolved")).items)


def deliveries(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(webhook_deliveries)).scalar_one())


def test_fingerprints_are_alertmanagers_own(host: Host, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    label_sets = [
        {"alertname": "A"},
        {"alertname": "B", "service": "synth", "slo": "availability", "severity": "page"},
        {"alertname": "C", "path": "/ünïcødé/✓", "empty_looking": " ", "quote": 'say "hi"\\n'},
        {"alertname": "D", **{f"l{i}": "v" * i for i in range(1, 30)}},
    ]
    with alertmanager(tmp_path, host.am_config("http://127.0.0.1:9")) as (am, _):
        post_alerts(am, [{"labels": labels, "startsAt": now.isoformat()} for labels in label_sets])
        listed = wait_until("4 alerts listed", lambda: (a := http("GET", f"{am}/api/v2/alerts")) and len(a) == 4 and a)
    theirs = {a["labels"]["alertname"]: a["fingerprint"] for a in listed}
    ours = {labels["alertname"]: fingerprint(labels) for labels in label_sets}
    assert ours == theirs


def test_a_repeating_growing_group_is_one_incident_with_its_instances_and_no_repeat_noise(
    host: Host, sqlite_store: tuple[str, Store]
) -> None:
    url, store = sqlite_store
    start = datetime.now(UTC).replace(microsecond=0)
    a = am_alert("Burn", start, service="synth", slo="availability", severity="ticket", instance="a")
    with (
        parapet_serve(host.root, "--database-url", url) as (serve, log),
        alertmanager(host.root, host.am_config(serve, repeat="2s")) as (am, _),
    ):
        post_alerts(am, [a])
        (incident,) = wait_until("the incident", lambda: incidents_of(store))
        # repeat_interval re-sends of the unchanged group: occurrence_count moves, nothing else
        wait_until("three repeats", lambda: store.get(incident.id).occurrence_count >= 3, timeout=30)
        assert [e.kind for e in store.timeline(incident.id)] == ["opened"]
        grown = [
            a,
            am_alert("Burn", start, service="synth", slo="availability", severity="page", instance="b"),
            am_alert("Burn", start, service="synth", slo="availability", severity="ticket", instance="c"),
        ]
        post_alerts(am, grown)
        wait_until("three instances", lambda: len(store.alert_instances(incident.id)) == 3)
        wait_until("more repeats", lambda: store.get(incident.id).occurrence_count >= 8, timeout=30)
        end = datetime.now(UTC)
        post_alerts(am, [{**g, "endsAt": end.isoformat().replace("+00:00", "Z")} for g in grown])
        wait_until("resolution", lambda: store.get(incident.id).state == "resolved", timeout=30)
        access = log.text()
    assert len(incidents_of(store)) == 1
    done = store.get(incident.id)
    assert done.resolved_by == "system:alertmanager" and done.severity == "page"
    # Alertmanager may flush a change in two notifications (b, then c): each instance is still named once.
    timeline = store.timeline(incident.id)
    kinds = [e.kind for e in timeline]
    assert (kinds[0], kinds[-1]) == ("opened", "resolved")
    assert kinds.count("opened") == kinds.count("severity_raised") == kinds.count("resolved") == 1
    assert set(kinds) == {"opened", "instance_added", "severity_raised", "instance_resolved", "resolved"}
    instances = {i.labels["instance"]: i.fingerprint for i in store.alert_instances(incident.id)}

    def named(kind: str) -> list[str]:
        return sorted(fp for e in timeline if e.kind == kind for fp in e.data["fingerprints"])

    assert named("instance_added") == sorted([instances["b"], instances["c"]])
    assert named("instance_resolved") == sorted(instances.values())
    assert {i.status for i in store.alert_instances(incident.id)} == {"resolved"}
    assert set(_webhook_codes(access).split()) == {"200"}


def _webhook_codes(log: str) -> str:
    """The status codes uvicorn's access log gave the webhook's requests, in order."""
    return " ".join(re.findall(r'"POST /parapet/webhook HTTP/1\.1" (\d{3})', log))


def test_two_alertmanagers_sending_the_same_group_give_one_incident(
    host: Host, sqlite_store: tuple[str, Store]
) -> None:
    url, store = sqlite_store
    start = datetime.now(UTC).replace(microsecond=0)
    alerts = [
        am_alert("Burn", start, service="synth", slo="availability", severity="page", instance=f"i{n}")
        for n in range(5)
    ]
    with (
        parapet_serve(host.root, "--database-url", url) as (serve, _),
        alertmanager(host.root, host.am_config(serve, "am1"), "am1") as (am1, _),
        alertmanager(host.root, host.am_config(serve, "am2"), "am2") as (am2, _),
    ):
        post_alerts(am1, alerts)
        post_alerts(am2, alerts)
        wait_until("both delivered, twice", lambda: deliveries(store) >= 4, timeout=30)
    (incident,) = incidents_of(store)
    assert len(store.alert_instances(incident.id)) == 5
    # Each instance entered the timeline once, however many copies the two Alertmanagers sent (one of them
    # may flush the group before its last alert is in: then "instance_added" names that one).
    timeline = store.timeline(incident.id)
    assert timeline[0].kind == "opened" and {e.kind for e in timeline} <= {"opened", "instance_added"}
    named = [fp for e in timeline for fp in e.data["fingerprints"]]
    assert sorted(named) == sorted({i.fingerprint for i in store.alert_instances(incident.id)})


def test_a_wrong_token_creates_nothing(host: Host, sqlite_store: tuple[str, Store]) -> None:
    url, store = sqlite_store
    wrong = host.root / "alertmanager" / "secrets" / "wrong"
    wrong.write_text("not-the-token\n")
    start = datetime.now(UTC)
    with (
        parapet_serve(host.root, "--database-url", url) as (serve, log),
        alertmanager(host.root, host.am_config(serve, token_file="secrets/wrong")) as (am, am_log),
    ):
        post_alerts(am, [am_alert("Burn", start, service="synth", slo="availability", severity="page")])
        wait_until("a 401 in serve's log", lambda: "401" in _webhook_codes(log.text()), timeout=30)
        time.sleep(2)
        codes = _webhook_codes(log.text())
    assert set(codes.split()) == {"401"}
    assert incidents_of(store) == [] and deliveries(store) == 0
    assert "401" in am_log.text()


def test_the_database_stopped_gives_503s_alertmanager_retries_nothing_lost(host: Host) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    first = am_alert("Burn", start, service="synth", slo="availability", severity="page", instance="before")
    second = am_alert("Burn", start, service="synth", slo="availability", severity="page", instance="during")
    with private_postgres() as pg:
        engine = create_engine_for(pg.url)
        metadata.create_all(engine)
        store = Store(engine)
        try:
            with (
                parapet_serve(host.root, "--database-url", pg.url) as (serve, log),
                alertmanager(host.root, host.am_config(serve, interval="4s", repeat="1h")) as (am, _),
            ):
                post_alerts(am, [first])
                (incident,) = wait_until("the incident", lambda: incidents_of(store))
                engine.dispose()
                pg.stop()
                post_alerts(am, [first, second])
                wait_until("503s while the database is down", lambda: "503" in _webhook_codes(log.text()), timeout=30)
                time.sleep(3)
                pg.start()
                wait_until("the second instance", lambda: len(store.alert_instances(incident.id)) == 2, timeout=60)
                codes = _webhook_codes(log.text()).split()
            opened = len(incidents_of(store))
        finally:
            engine.dispose()
    assert "503" in codes and codes[-1] == "200"
    assert set(codes) <= {"200", "503"}  # never a 4xx: Alertmanager would have dropped the notification
    assert opened == 1


def test_the_reconciler_resolves_what_alertmanager_no_longer_has(host: Host, tmp_path: Path) -> None:
    from parapet.alerts import Correlator, ingest, parse_payload
    from tests.alerts.conftest import payload

    engine = create_engine_for(f"sqlite:///{tmp_path / 'r.db'}")
    metadata.create_all(engine)
    clock_now = [datetime.now(UTC)]
    store = Store(engine, clock=lambda: clock_now[0])
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    kept = am_alert("Kept", start, service="synth", slo="availability", severity="page")
    silenced = am_alert("Silenced", start, team="db")
    gone_labels = {"alertname": "Gone", "team": "db"}

    def webhook_alert(labels: dict[str, str]) -> dict[str, Any]:
        return {
            "status": "firing",
            "labels": labels,
            "startsAt": start.isoformat().replace("+00:00", "Z"),
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": fingerprint(labels),
        }

    for labels in (kept["labels"], silenced["labels"], gone_labels):
        ingest(store, parse_payload(payload(webhook_alert(labels))), Correlator())
    clock_now[0] += timedelta(minutes=2)  # past the grace period
    with alertmanager(tmp_path, host.am_config("http://127.0.0.1:9")) as (am, _):
        post_alerts(am, [kept, silenced])
        http(
            "POST",
            f"{am}/api/v2/silences",
            {
                "matchers": [{"name": "alertname", "value": "Silenced", "isRegex": False}],
                "startsAt": datetime.now(UTC).isoformat(),
                "endsAt": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                "createdBy": "test",
                "comment": "silenced alerts never send resolved",
            },
        )
        wait_until("two alerts listed", lambda: len(http("GET", f"{am}/api/v2/alerts")) == 2)
        result = reconcile(store, am, grace=timedelta(seconds=60))
    assert result["resolved_instances"] == 1
    by_name = {i.title.split(" ")[0]: i for i in incidents_of(store)}
    assert by_name["Gone"].state == "resolved" and by_name["Gone"].resolved_by == SYSTEM_RECONCILER
    assert by_name["Kept"].state == "open" and by_name["Silenced"].state == "open"
    assert [e.actor for e in store.timeline(by_name["Gone"].id)][-2:] == [SYSTEM_RECONCILER, SYSTEM_RECONCILER]
    engine.dispose()
