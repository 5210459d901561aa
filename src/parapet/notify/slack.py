"""Slack: one message per incident, posted once with chat.postMessage, then updated in place with chat.update.

    render(message, buttons=...)   -> (text, blocks): Block Kit within Slack's limits, a plain-text fallback
    SlackNotifier.deliver          post, or update the message remembered for this incident; a message Slack
                                   no longer has (message_not_found, cant_update_message) is posted anew
                                   and the new one remembered

The client is the real ``slack_sdk.WebClient`` (its ``base_url`` is ``api_url`` from the spec, Slack's own by
default), without its own retries: a 429 is raised as ``parapet.work.Retry`` after the answer's
``Retry-After``, any other failure as NotifierError, and the work engine schedules the next attempt. Its logger
masks the configured secrets.

Slack's limits (https://api.slack.com/reference/block-kit/blocks): at most 50 blocks a message, a section's
text at most 3,000 characters, a header's 150, at most 10 fields of 2,000, 10 context elements, a button's text
75. ``render`` spends the block budget on the incident's facts first, then its alerts (the rest summarised in one
line), so the message of a huge incident still fits. Incident text is escaped (``&``, ``<``, ``>``): an alert's
title cannot mention ``@channel`` or forge a link.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any, ClassVar, Final

from parapet.notify.base import BaseNotifier, Delivery, Notification, NotifierError, register
from parapet.notify.secrets import SecretReader, redact, redacting_logger
from parapet.notify.text import ELLIPSIS, clip, event_line, facts, headline, links
from parapet.spec.model import NotifierSettings
from parapet.work.jobs import Retry

MAX_BLOCKS: Final = 50
MAX_SECTION: Final = 3000
MAX_HEADER: Final = 150
MAX_FIELDS: Final = 10
MAX_FIELD: Final = 2000
MAX_CONTEXT: Final = 10
MAX_BUTTON: Final = 75
MAX_URL: Final = 3000
MAX_TEXT: Final = 3000  # the fallback text: Slack cuts at 40,000, notifications show far less
MAX_ALERT_BLOCKS: Final = 30
ACTION_ACKNOWLEDGE: Final = "parapet_acknowledge"
ACTION_RESOLVE: Final = "parapet_resolve"
ACTION_OPEN: Final = "parapet_open"
GONE: Final = frozenset({"message_not_found", "cant_update_message", "channel_not_found"})
DEFAULT_API: Final = "https://slack.com/api/"
TIMEOUT_S: Final = 10
MAX_RETRY_AFTER: Final = timedelta(minutes=5)
STATE_EMOJI: Final = {"open": ":red_circle:", "acknowledged": ":large_yellow_circle:", "resolved": ":white_check_mark:"}


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: ``&``, ``<`` and ``>`` (so ``<!channel>`` or ``<http://x|y>`` stay text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str, limit: int = MAX_SECTION) -> dict[str, Any]:
    """A mrkdwn text object of at most ``limit`` characters once escaped (cut with an ellipsis), never empty."""
    out = escape(text)
    if len(out) > limit:
        kept: list[str] = []
        size = 0
        for char in text:
            piece = escape(char)
            if size + len(piece) > limit - len(ELLIPSIS):
                break
            kept.append(piece)
            size += len(piece)
        out = "".join(kept) + ELLIPSIS
    return {"type": "mrkdwn", "text": out or " "}


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit) or " ", "emoji": False}


def render(message: Notification, *, buttons: bool = False) -> tuple[str, list[dict[str, Any]]]:
    """The fallback text and the blocks of ``message``'s incident as it is now."""
    incident = message.incident
    top = headline(incident)
    what = event_line(message)
    text = clip(f"{top}: {what}", MAX_TEXT)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(top, MAX_HEADER)},
        {
            "type": "section",
            "text": _mrkdwn(f"{STATE_EMOJI.get(incident.state, '')} {what}".strip()),
        },
    ]
    if incident.summary:
        blocks.append({"type": "section", "text": _mrkdwn(incident.summary)})
    pairs = facts(incident)[:MAX_FIELDS]
    if pairs:
        blocks.append(
            {"type": "section", "fields": [_mrkdwn(f"*{name}*\n{value}", MAX_FIELD) for name, value in pairs]}
        )
    labels = sorted((str(k), str(v)) for k, v in incident.labels.items())
    if labels:
        shown = labels[: MAX_CONTEXT - 1] if len(labels) > MAX_CONTEXT else labels
        elements = [_mrkdwn(f"{k}={v}", 200) for k, v in shown]
        if len(labels) > len(shown):
            elements.append(_mrkdwn(f"and {len(labels) - len(shown)} more labels", 200))
        blocks.append({"type": "context", "elements": elements})
    actions = _actions(message, buttons)
    # the alerts get what is left of the budget: the actions block and one summary line stay reserved
    room = min(MAX_ALERT_BLOCKS, MAX_BLOCKS - len(blocks) - (1 if actions else 0) - 1)
    blocks.extend(_alerts(message, room))
    if actions:
        blocks.append({"type": "actions", "elements": actions})
    return text, blocks


def _alerts(message: Notification, room: int) -> list[dict[str, Any]]:
    alerts = message.alerts
    if not alerts:
        return []
    firing = sum(1 for a in alerts if a.status == "firing")
    out: list[dict[str, Any]] = [
        {"type": "divider"},
        {"type": "section", "text": _mrkdwn(f"*Alerts:* {firing} firing, {len(alerts) - firing} resolved")},
    ]
    shown = alerts[: max(room - len(out) - 1, 0)]
    for alert in shown:
        mark = ":fire:" if alert.status == "firing" else ":heavy_check_mark:"
        summary = str(alert.annotations.get("summary") or alert.annotations.get("description") or "")
        line = f"{mark} {alert.alert_name} ({alert.severity}) {alert.fingerprint[:12]}"
        out.append({"type": "section", "text": _mrkdwn(f"{line}\n{summary}".strip())})
    if len(alerts) > len(shown):
        out.append({"type": "context", "elements": [_mrkdwn(f"and {len(alerts) - len(shown)} more alerts", 200)]})
    return out


def _actions(message: Notification, buttons: bool) -> list[dict[str, Any]]:
    incident = message.incident
    out: list[dict[str, Any]] = []
    value = f"{message.target}:{incident.id}"
    if buttons and incident.state == "open":
        out.append(
            {
                "type": "button",
                "action_id": ACTION_ACKNOWLEDGE,
                "text": _plain("Acknowledge", MAX_BUTTON),
                "style": "primary",
                "value": value,
            }
        )
    if buttons and incident.state != "resolved":
        out.append(
            {
                "type": "button",
                "action_id": ACTION_RESOLVE,
                "text": _plain("Resolve", MAX_BUTTON),
                "style": "danger",
                "value": value,
                "confirm": {
                    "title": _plain("Resolve this incident?", 100),
                    "text": _plain(clip(incident.title, 280), 300),
                    "confirm": _plain("Resolve", 30),
                    "deny": _plain("Cancel", 30),
                },
            }
        )
    for i, (label, href) in enumerate(links(message)):
        if len(href) <= MAX_URL:  # a longer URL would make Slack refuse the whole message
            action = ACTION_OPEN if i == 0 and href == message.url else f"parapet_link_{i}"
            out.append({"type": "button", "action_id": action, "text": _plain(label, MAX_BUTTON), "url": href})
    return out


def digest(text: str, blocks: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps([text, blocks], sort_keys=True).encode()).hexdigest()


@register
class SlackNotifier(BaseNotifier):
    """A ``kind: slack`` target: one message per incident in ``channel``, updated in place, at most once per
    2 s per incident (the outbox coalesces the changes in between)."""

    kind: ClassVar[str] = "slack"
    coalesce: ClassVar[bool] = True
    min_interval: ClassVar[timedelta] = timedelta(seconds=2)

    def __init__(self, settings: NotifierSettings, token: str) -> None:
        super().__init__(settings)
        self._token = token
        self.channel = str(settings.option("channel"))
        self.buttons = bool(settings.option("buttons", False))
        self.api_url = str(settings.option("api_url") or DEFAULT_API)

    def __repr__(self) -> str:  # never the token
        return f"SlackNotifier(target={self.target!r}, channel={self.channel!r})"

    @classmethod
    def from_settings(cls, settings: NotifierSettings, secrets: SecretReader) -> SlackNotifier:
        return cls(settings, secrets.read("token"))

    def client(self) -> Any:
        from slack_sdk import WebClient

        return WebClient(
            token=self._token,
            base_url=self.api_url,
            timeout=TIMEOUT_S,
            logger=redacting_logger("parapet.notify.slack.client"),
            retry_handlers=[],
        )

    def deliver(self, message: Notification) -> Delivery:
        text, blocks = render(message, buttons=self.buttons)
        sent = digest(text, blocks)
        previous = message.previous
        known = previous.external_id if previous is not None and previous.external_id else None
        if previous is not None and known and previous.digest == sent:
            return Delivery("unchanged", known, "the message already shows this", sent)
        client = self.client()
        if known and ":" in known:
            channel, ts = known.split(":", 1)
            try:
                self._call(client, "chat_update", channel=channel, ts=ts, text=text, blocks=blocks)
            except _Gone as gone:
                posted = self._post(client, text, blocks)
                return Delivery("reposted", posted, f"chat.update answered {gone.error}: posted anew", sent)
            return Delivery("updated", known, f"chat.update in {channel}", sent)
        return Delivery("posted", self._post(client, text, blocks), f"chat.postMessage to {self.channel}", sent)

    def _post(self, client: Any, text: str, blocks: list[dict[str, Any]]) -> str:
        data = self._call(
            client, "chat_postMessage", channel=self.channel, text=text, blocks=blocks, unfurl_links=False
        )
        channel, ts = data.get("channel"), data.get("ts")
        if not isinstance(channel, str) or not isinstance(ts, str):
            raise NotifierError("Slack's chat.postMessage answer names no channel and ts")
        return f"{channel}:{ts}"

    def _call(self, client: Any, method: str, **kwargs: Any) -> dict[str, Any]:
        """Call ``method`` and return its answer's data. A 429 becomes Retry (after Retry-After), a message
        Slack no longer has _Gone, anything else NotifierError (redacted)."""
        from slack_sdk.errors import SlackApiError, SlackClientError

        name = method.replace("_", ".", 1)
        try:
            response = getattr(client, method)(**kwargs)
        except SlackApiError as exc:
            status = exc.response.status_code
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            error = str(data.get("error") or "")
            if status == 429:
                after = _retry_after(exc.response.headers)
                raise Retry(
                    after=after, reason=f"Slack rate-limited {name}: retry after {after.total_seconds():g}s"
                ) from None
            if method == "chat_update" and error in GONE:
                raise _Gone(error) from None
            raise NotifierError(f"Slack refused {name}: {error or f'HTTP {status}'}", hint=_hint(error)) from None
        except (SlackClientError, OSError) as exc:
            raise NotifierError(f"cannot reach Slack for {name}: {redact(str(exc)) or type(exc).__name__}") from None
        return response.data if isinstance(response.data, dict) else {}


class _Gone(Exception):
    """chat.update found no message to update (deleted, too old, or its channel gone)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _retry_after(headers: Any) -> timedelta:
    """Slack's ``Retry-After`` (seconds), at least 1 s, at most 5 minutes."""
    raw = ""
    for name, value in dict(headers or {}).items():
        if str(name).lower() == "retry-after":
            raw = str(value)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 1.0
    return min(max(timedelta(seconds=seconds), timedelta(seconds=1)), MAX_RETRY_AFTER)


def _hint(error: str) -> str | None:
    return {
        "not_in_channel": "invite the Slack app to the channel (/invite @app), or give it chat:write.public",
        "channel_not_found": "check channel: under notifiers: (a channel id such as C0123ABCDEF is safest)",
        "invalid_auth": "the token was refused: check the bot token (xoxb-...) in its environment variable or file",
        "not_authed": "the token was refused: check the bot token (xoxb-...) in its environment variable or file",
        "token_revoked": "the token was revoked: install the app again and store the new bot token",
        "missing_scope": "give the Slack app the chat:write scope and install it again",
        "invalid_blocks": "a message Parapet built was refused: report it with the incident's id",
    }.get(error)
