"""The reads behind the tools: redaction and bounds, the changes window, and live burn rates from a real
Prometheus (Debian's ``prometheus``, evaluating recording rules that stand in for an SLO's series)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml

from parapet import conventions as c
from parapet.evidence import Alert, Store
from parapet.mcp.reader import Reader, instant_query
from parapet.mcp.redact import MASK, MAX_ITEMS, MAX_TEXT, redact
from parapet.slo.windows import slo_recorded_windows
from parapet.spec import load_spec
from parapet.spec.durations import format_duration
from tests.alerts.harness import prometheus, wait_until
from tests.mcp.conftest import SPEC
from tests.web.helpers import NOW, Clock

SECRET = "s3cr3t-value-of-the-webhook"


def test_redaction_masks_secrets_and_bounds_sizes() -> None:
    value = {
        "password": "hunter2",
        "db_url": "postgresql://app:pa55word@db:5432/shop",
        "note": f"called with Authorization: Bearer abcdefghijklmnop and {SECRET}",
        "api_key": "",  # an empty secret stays visibly empty
        "nested": {"X-Auth-Token": "t0k3n", "ok": "fine"},
        "long": "x" * (MAX_TEXT + 500),
        "many": list(range(MAX_ITEMS + 7)),
        "deep": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": {"k": 1}}}}}}}}}}},
    }
    out = redact(value, [SECRET])
    flat = str(out)
    for secret in ("hunter2", "pa55word", "abcdefghijklmnop", SECRET, "t0k3n"):
        assert secret not in flat
    assert out["password"] == MASK and out["nested"] == {"X-Auth-Token": MASK, "ok": "fine"}
    assert out["db_url"] == f"postgresql://app:{MASK}@db:5432/shop"
    assert out["api_key"] == ""
    assert len(out["long"]) < MAX_TEXT + 60 and out["long"].endswith("500 more characters cut]")
    assert len(out["many"]) == MAX_ITEMS + 1 and out["many"][-1] == "… 7 more items cut"
    assert "cut" in str(out["deep"])


def test_list_changes_window_service_and_cursor(tmp_path: Path) -> None:
    from parapet.evidence.db import create_engine_for
    from parapet.evidence.schema import metadata

    engine = create_engine_for(f"sqlite:///{tmp_path / 'p.db'}")
    metadata.create_all(engine)
    store = Store(engine, clock=Clock())
    for minutes in range(0, 50, 5):
        store.record_system_event(
            "deploy", service="checkout", message=f"v{minutes}", occurred_at=NOW - timedelta(minutes=minutes)
        )
    store.record_system_event("flag", message="global", occurred_at=NOW - timedelta(minutes=7))
    store.record_system_event("deploy", service="search", message="other", occurred_at=NOW - timedelta(minutes=7))
    store.record_system_event(
        "deploy", service="checkout", message="token=abcdefghijkl0123", data={"secret": "x"}, occurred_at=NOW
    )
    reader = Reader(store=store, clock=Clock())
    page = reader.list_changes(since="30m", service="checkout", limit=4)
    assert [c["message"] for c in page["changes"]] == ["token=[redacted]", "v0", "v5", "global"]
    assert page["changes"][0]["data"] == {"secret": MASK}
    rest = reader.list_changes(since="30m", service="checkout", limit=4, cursor=page["next_cursor"])
    assert [c["message"] for c in rest["changes"]] == ["v10", "v15", "v20", "v25"]
    last = reader.list_changes(since="30m", service="checkout", limit=4, cursor=rest["next_cursor"])
    assert [c["message"] for c in last["changes"]] == ["v30"] and last["next_cursor"] is None
    assert len(reader.list_changes(since="2h", until="1h")["changes"]) == 0
    only_flags = reader.list_changes(since="1h", kind="flag")
    assert [c["message"] for c in only_flags["changes"]] == ["global"]
    store.open_or_touch(Alert(correlation_key="k", alert_name="A", severity="page", title="t", service="checkout"))
    engine.dispose()


def test_slo_status_reads_live_burn_rates_from_prometheus(tmp_path: Path) -> None:
    spec_path = tmp_path / "parapet.yaml"
    spec_path.write_text(SPEC.format(url="sqlite:///p.db", prometheus=""))
    spec = load_spec(spec_path)
    slo = spec.slos[0]
    selector = {c.LABEL_SERVICE: "checkout", c.LABEL_SLO: "availability"}
    # 2% errors on every window against a 0.1% budget: a burn rate of 20, above every alert pair's factor
    rules = [
        {"record": c.error_ratio(format_duration(w)), "expr": "vector(0.02)", "labels": selector}
        for w in slo_recorded_windows(slo)
    ]
    rules.append({"record": c.BUDGET_REMAINING, "expr": "vector(0.25)", "labels": selector})
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "slo", "interval": "1s", "rules": rules}]}))
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"evaluation_interval": "1s"}, "rule_files": ["rules.yml"]}))
    with prometheus(tmp_path, config) as (url, _proc):
        wait_until("the rules to record", lambda: instant_query(url, c.BUDGET_REMAINING))
        reader = Reader(store=None, spec=spec, prometheus_url=url)  # type: ignore[arg-type]
        status = reader.get_slo_status()
    live = status["slos"][0]["live"]
    assert status["prometheus"] is True and live["groups_total"] == 1
    group = live["groups"][0]
    assert group["budget_remaining"] == 0.25
    assert set(group["windows"]) == {format_duration(w) for w in slo_recorded_windows(slo)}
    assert abs(group["windows"]["1h"]["burn_rate"] - 20.0) < 1e-9
    assert {b["severity"] for b in group["burning"]} == {"page", "ticket"}


def test_slo_status_says_when_prometheus_cannot_be_reached(tmp_path: Path) -> None:
    spec_path = tmp_path / "parapet.yaml"
    spec_path.write_text(SPEC.format(url="sqlite:///p.db", prometheus="prometheus:\n  url: http://127.0.0.1:9\n"))
    reader = Reader.for_spec(None, load_spec(spec_path))  # type: ignore[arg-type]
    live = reader.get_slo_status()["slos"][0]["live"]
    assert "cannot be reached" in live["error"]
