"""The Slack notifier with the real ``slack_sdk`` client against the fake Slack API on loopback: Block Kit within
Slack's limits, one message posted then updated in place, a vanished message posted anew, 429 as Retry."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from parapet.evidence.store import AlertInstance, Incident
from parapet.notify import Notification, NotifierError, Previous
from parapet.notify import secrets as notify_secrets
from parapet.notify.slack import MAX_BLOCKS, SlackNotifier, render
from parapet.spec.model import NotifierSettings, SecretRef
from tests.notify.fake_slack import FakeSlack

TOKEN = "xoxb-canary-token-0000000000"
T0 = datetime(2026, 12, 6, 19, 0, tzinfo=UTC)


def incident(**changes: Any) -> Incident:
    base = Incident(
        id=12,
        correlation_key="k",
        fingerprint="f" * 16,
        alert_name="CheckoutErrors",
        service="checkout",
        slo="availability",
        severity="critical",
        severity_rank=50,
        state="open",
        title="Checkout errors burn the budget",
        summary="5xx on /pay",
        labels={"service": "checkout"},
        annotations={},
        runbook_url=None,
        trace_id=None,
        opened_at=T0,
        opened_by="system:alertmanager",
        acknowledged_at=None,
        acknowledged_by=None,
        resolved_at=None,
        resolved_by=None,
        last_seen_at=T0,
        occurrence_count=1,
        updated_at=T0,
        version=1,
    )
    return replace(base, **changes)


def alert(n: int, **changes: Any) -> AlertInstance:
    base = AlertInstance(
        id=n,
        incident_id=12,
        fingerprint=f"{n:016x}",
        starts_at=T0,
        ends_at=None,
        status="firing",
        alert_name="CheckoutErrors",
        severity="critical",
        labels={},
        annotations={"summary": f"pod {n} fails"},
        generator_url=None,
        first_seen_at=T0,
        last_seen_at=T0,
        resolved_at=None,
        resolved_by=None,
        stale_at=None,
        occurrence_count=1,
    )
    return replace(base, **changes)


def settings(api_url: str, **options: Any) -> NotifierSettings:
    opts = {"channel": "#incidents", "buttons": False, "users": {}, "api_url": api_url, **options}
    return NotifierSettings(
        name="ops-slack",
        kind="slack",
        announce=True,
        secrets=(SecretRef(field="token", env="SLACK_TOKEN"),),
        options=tuple(sorted(opts.items())),
    )


def note(event: str, inc: Incident, previous: Previous | None = None, **kw: Any) -> Notification:
    return Notification(
        incident=inc,
        event=event,
        target="ops-slack",
        url="https://parapet.example.com/parapet/incidents/12",
        previous=previous,
        **kw,
    )


def check_limits(text: str, blocks: list[dict[str, Any]]) -> None:
    """Slack's documented limits, checked by hand and by slack_sdk's own Block Kit models."""
    assert 0 < len(text) <= 3000 and "\n" not in text
    assert len(blocks) <= MAX_BLOCKS
    for block in blocks:
        Block.parse(block).validate_json()  # type: ignore[union-attr]
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "context":
            assert len(block["elements"]) <= 10


def test_a_huge_incident_stays_within_slacks_limits() -> None:
    huge = incident(
        title="T" * 10_000 + " <!channel>",
        summary=("<!here> & <http://evil|click> " * 2_000),
        labels={f"label_{i}": "v" * 300 for i in range(200)},
        occurrence_count=99,
    )
    alerts = tuple(alert(i, annotations={"summary": "<&>" * 3_000}) for i in range(500))
    text, blocks = render(note("opened", huge, alerts=alerts), buttons=True)
    check_limits(text, blocks)
    assert len(blocks) <= MAX_BLOCKS
    body = repr(blocks)
    assert "<!here>" not in body and "<!channel>" not in body and "<http://evil" not in body
    assert "&lt;!here&gt;" in body
    assert any("more alerts" in repr(b) for b in blocks) and any("more labels" in repr(b) for b in blocks)
    assert blocks[-1]["type"] == "actions"  # the buttons are never pushed out by the alerts
    ids = [e.get("action_id") for e in blocks[-1]["elements"]]
    assert ids == ["parapet_acknowledge", "parapet_resolve", "parapet_open"]


def test_buttons_follow_the_state() -> None:
    def actions(inc: Incident, buttons: bool = True) -> list[str]:
        _, blocks = render(note("updated", inc), buttons=buttons)
        return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]

    assert actions(incident()) == ["parapet_acknowledge", "parapet_resolve", "parapet_open"]
    assert actions(incident(state="acknowledged")) == ["parapet_resolve", "parapet_open"]
    assert actions(incident(state="resolved")) == ["parapet_open"]
    assert actions(incident(), buttons=False) == ["parapet_open"]
    runbook = incident(runbook_url="https://runbooks.example.com/checkout")
    assert actions(runbook, buttons=False) == ["parapet_open", "parapet_link_1"]
    assert actions(incident(runbook_url="javascript:alert(1)"), buttons=False) == ["parapet_open"]


def test_post_then_update_in_place_then_post_anew_when_the_message_is_gone(caplog: pytest.LogCaptureFixture) -> None:
    notify_secrets.forget_all()
    notify_secrets.remember(TOKEN)
    caplog.set_level(logging.DEBUG)
    with FakeSlack(TOKEN).running() as fake:
        notifier = SlackNotifier(settings(fake.url), TOKEN)
        first = notifier.deliver(note("opened", incident(), alerts=(alert(1),)))
        assert first.outcome == "posted" and first.external_id and first.external_id.startswith("C0PARAPET:")
        previous = Previous(first.external_id, first.digest, T0, 1)

        # nothing new to show: no call at all
        same = notifier.deliver(note("opened", incident(), previous, alerts=(alert(1),)))
        assert same.outcome == "unchanged" and len(fake.requests) == 1

        acked = incident(state="acknowledged", acknowledged_at=T0 + timedelta(minutes=2), acknowledged_by="alice")
        second = notifier.deliver(note("acknowledged", acked, previous, actor="alice"))
        assert (second.outcome, second.external_id) == ("updated", first.external_id)
        channel, ts = first.external_id.split(":")
        assert fake.messages[(channel, ts)]["text"].startswith("[ACKNOWLEDGED] #12")

        fake.forget(channel, ts)  # someone deleted the message in Slack
        previous = Previous(second.external_id, second.digest, T0, 2)
        resolved = replace(acked, state="resolved", resolved_at=T0 + timedelta(minutes=5), resolved_by="bob")
        third = notifier.deliver(note("resolved", resolved, previous, actor="bob"))
        assert third.outcome == "reposted" and third.external_id != first.external_id
        methods = [r.method for r in fake.requests]
        assert methods == ["chat.postMessage", "chat.update", "chat.update", "chat.postMessage"]
        assert "Resolved by bob" in fake.requests[-1].body["text"]

        fake.fail("chat.postMessage", "not_in_channel")
        with pytest.raises(NotifierError) as refused:
            notifier.deliver(note("opened", incident(id=13)))
        assert "not_in_channel" in refused.value.message and "invite" in (refused.value.hint or "")
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in fake.requests)
    assert TOKEN not in caplog.text and TOKEN not in repr(notifier)


def test_429_is_a_retry_after_slacks_delay() -> None:
    from parapet.work import Retry

    with FakeSlack(TOKEN).running() as fake:
        notifier = SlackNotifier(settings(fake.url), TOKEN)
        fake.rate_limit("chat.postMessage", retry_after=7)
        with pytest.raises(Retry) as limited:
            notifier.deliver(note("opened", incident()))
        assert limited.value.after == timedelta(seconds=7)
        assert notifier.deliver(note("opened", incident())).outcome == "posted"


def test_an_unreachable_slack_is_a_failure_without_the_token() -> None:
    notifier = SlackNotifier(settings("http://127.0.0.1:9/api/"), TOKEN)
    with pytest.raises(NotifierError) as failed:
        notifier.deliver(note("opened", incident()))
    assert "cannot reach Slack" in failed.value.message and TOKEN not in str(failed.value)
