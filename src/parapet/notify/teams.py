"""Microsoft Teams through a Workflows webhook: one Adaptive Card per state change.

Office 365 connectors (``outlook.office.com/webhook/…``, ``<tenant>.webhook.office.com/webhookb2/…``) are retired;
a Teams channel now takes a post through the Workflows (Power Automate) trigger "When a Teams webhook request is
received", whose URL (``*.logic.azure.com`` or ``*.environment.api.powerplatform.com``) carries its own
authorisation in a ``sig=`` query parameter. The whole URL is therefore a secret: it is read from the
environment or a file, never from the spec, and never printed (``parapet doctor`` flags a retired connector URL
without quoting it).

The body is the message envelope Workflows accepts::

    {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                         "contentUrl": null, "content": <AdaptiveCard 1.4>}]}

A webhook card cannot call back (no bot receives Action.Submit or Action.Execute), so its actions open Parapet:
"Open in Parapet" (the incident page) and the runbook when the incident has one. Teams refuses a message over
28 KB: the card is rendered at decreasing budgets (title, summary, fact values, label count) until the encoded
body fits in MAX_PAYLOAD bytes, and a minimal card (headline and link) is the last resort, which always fits.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from parapet.notify import transport
from parapet.notify.base import BaseNotifier, Delivery, Notification, NotifierError, register
from parapet.notify.secrets import SecretReader
from parapet.notify.text import clip, event_line, facts, headline, links
from parapet.spec.model import NotifierSettings

CARD_VERSION: Final = "1.4"
CARD_SCHEMA: Final = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_CONTENT_TYPE: Final = "application/vnd.microsoft.card.adaptive"
# Teams answers an error above 28 KB; the encoded request body stays under this many bytes.
MAX_PAYLOAD: Final = 28_000
TIMEOUT: Final = 10.0  # seconds for Teams to answer a post
RETIRED_HINT: Final = (
    "Office 365 connectors no longer post: in the Teams channel, add the Workflows template 'Post to a channel "
    "when a webhook request is received' and put its URL where this one was"
)

# Container style and text colour per incident state (Adaptive Cards 1.2 names).
STYLES: Final = {"open": "attention", "acknowledged": "warning", "resolved": "good"}
COLOURS: Final = {"open": "Attention", "acknowledged": "Warning", "resolved": "Good"}

_INLINE = re.compile(r"([\\`*_\[\]~<>])")  # emphasis, code, links, strike-through, autolinks
_BULLET = re.compile(r"^(\s*)([#+\-])", re.MULTILINE)  # headings and bullets at a line's start
_ORDERED = re.compile(r"^(\s*\d+)\.", re.MULTILINE)  # "1." at a line's start


@dataclass(frozen=True)
class Budget:
    """How much of each field a card may carry (characters), and how many of the incident's labels it lists."""

    title: int
    summary: int
    value: int
    labels: int


BUDGETS: Final = (
    Budget(title=300, summary=3000, value=300, labels=12),
    Budget(title=200, summary=1000, value=120, labels=6),
    Budget(title=150, summary=300, value=80, labels=0),
)
MINIMAL: Final = Budget(title=100, summary=0, value=0, labels=0)


def escape(text: str) -> str:
    """Plain text as Adaptive Card Markdown (CommonMark's backslash escapes): a label value like ``[x](http://…)``
    shows as written instead of becoming a link."""
    text = _INLINE.sub(r"\\\1", text)
    return _ORDERED.sub(r"\1\\.", _BULLET.sub(r"\1\\\2", text))


def card(message: Notification, budget: Budget = BUDGETS[0]) -> dict[str, Any]:
    """The Adaptive Card of one state change of the incident."""
    incident = message.incident
    state = incident.state
    header: list[dict[str, Any]] = [
        _text(escape(clip(headline(incident), budget.title)), size="Large", weight="Bolder", color=COLOURS.get(state)),
        _text(escape(clip(event_line(message), budget.title)), spacing="None", isSubtle=True),
    ]
    body: list[dict[str, Any]] = [
        {"type": "Container", "style": STYLES.get(state, "emphasis"), "bleed": True, "items": header}
    ]
    if budget.summary and incident.summary:
        body.append(_text(escape(clip(incident.summary, budget.summary))))
    if budget.value:
        pairs = [(name, clip(value, budget.value)) for name, value in facts(incident)]
        body.append({"type": "FactSet", "facts": [_fact(name, value) for name, value in pairs]})
        labels = sorted((str(k), str(v)) for k, v in incident.labels.items())[: budget.labels]
        if labels:
            body.append(_text("Labels", weight="Bolder", spacing="Medium"))
            body.append(
                {
                    "type": "FactSet",
                    "facts": [_fact(clip(k, budget.value), clip(v, budget.value)) for k, v in labels],
                }
            )
    return {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "fallbackText": clip(headline(incident), 200),
        "body": body,
        "actions": _actions(message),
    }


def _text(text: str, **style: Any) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "TextBlock", "text": text, "wrap": True}
    block.update({k: v for k, v in style.items() if v is not None})
    return block


def _fact(name: str, value: str) -> dict[str, str]:
    return {"title": escape(name), "value": escape(value)}


def _actions(message: Notification) -> list[dict[str, Any]]:
    return [{"type": "Action.OpenUrl", "title": title, "url": url} for title, url in links(message)]


def envelope(content: dict[str, Any]) -> dict[str, Any]:
    """The message Workflows' "When a Teams webhook request is received" trigger accepts."""
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": content}],
    }


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def payload(message: Notification) -> bytes:
    """The request body: the fullest card whose encoded envelope fits in MAX_PAYLOAD bytes."""
    for budget in (*BUDGETS, MINIMAL):
        body = encode(envelope(card(message, budget)))
        if len(body) <= MAX_PAYLOAD:
            return body
    # Unreachable with these budgets (a 100-character headline, a 2 KiB link at most): kept as a guard.
    raise AssertionError(f"a minimal Teams card is {len(body)} bytes")


def retired_connector(url: str) -> bool:
    """Whether ``url`` is an Office 365 connector webhook (retired: posts fail), not a Workflows URL."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    path = parts.path.lower()
    if host in ("outlook.office.com", "outlook.office365.com"):
        return path.startswith("/webhook/")
    return (host == "webhook.office.com" or host.endswith(".webhook.office.com")) and path.startswith(
        ("/webhookb2/", "/webhook/")
    )


@register
class Teams(BaseNotifier):
    """``kind: teams``: posts one card per state change to the Workflows URL read from ``url_env``/``url_file``."""

    kind = "teams"

    def __init__(self, settings: NotifierSettings, url: str) -> None:
        super().__init__(settings)
        self._url = url

    def __repr__(self) -> str:
        return f"Teams({self.target!r})"

    @classmethod
    def from_settings(cls, settings: NotifierSettings, secrets: SecretReader) -> Teams:
        return cls(settings, secrets.read("url"))

    def deliver(self, message: Notification) -> Delivery:
        if retired_connector(self._url):
            raise NotifierError(
                f"the Teams URL of notifier {self.target} is a retired Office 365 connector", hint=RETIRED_HINT
            )
        body = payload(message)
        headers = {"Content-Type": "application/json"}
        try:
            answer = transport.post(self._url, body, headers=headers, timeout=TIMEOUT)
        except transport.Unreachable as exc:
            raise transport.unreachable(exc, where="Teams") from None
        return transport.conclude(transport.verdict(answer), delivered="posted", where="Teams")
