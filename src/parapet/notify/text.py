"""The words every notifier says about an incident, so a Teams card, an email and a webhook body agree.

    headline(incident)             "[ACKNOWLEDGED] #12 Checkout errors burn the budget"
    event_line(message)            "Acknowledged by alice", "Escalated to tier 2", "Opened"
    facts(incident)                ordered (name, value) pairs: state, severity, service, SLO, times, who
    clip(text, limit)              at most ``limit`` characters, an ellipsis where it was cut
    links(message)                 the (title, URL) buttons: Open in Parapet, Runbook; only http(s) URLs

Everything here is plain text: each notifier escapes it for its own format (Markdown for Teams, HTML for the
email's HTML part, JSON for the webhook). Times are UTC, written the same way everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from parapet.notify.base import Notification

if TYPE_CHECKING:
    from parapet.evidence.store import Incident

ELLIPSIS: Final = "…"
MAX_LINK: Final = 2048  # a longer URL is not offered as a link
EVENT_WORDS: Final = {
    "opened": "Opened",
    "updated": "Updated",
    "acknowledged": "Acknowledged",
    "resolved": "Resolved",
    "reopened": "Reopened",
    "escalated": "Escalated",
}


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, the last one an ellipsis when something was cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + ELLIPSIS if limit > 0 else ""


def when(at: datetime | None) -> str:
    """A time as people read it in a message: ``2026-12-06 19:27 UTC``."""
    if at is None:
        return ""
    if at.tzinfo is None:  # SQLite hands naive datetimes back; the store writes UTC
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def headline(incident: Incident) -> str:
    return f"[{incident.state.upper()}] #{incident.id} {incident.title}"


def event_line(message: Notification) -> str:
    """What happened, and who did it: the line under the headline."""
    word = EVENT_WORDS.get(message.event, message.event.replace("_", " ").capitalize())
    if message.event == "escalated" and message.tier is not None:
        word = f"Escalated to tier {message.tier}"
    return f"{word} by {message.actor}" if message.actor else word


def facts(incident: Incident) -> list[tuple[str, str]]:
    """The incident's facts in reading order; empty ones left out."""
    pairs = [
        ("State", incident.state),
        ("Severity", incident.severity),
        ("Service", incident.service or ""),
        ("SLO", incident.slo or ""),
        ("Alert", incident.alert_name),
        ("Opened", when(incident.opened_at)),
        ("Acknowledged", _by(incident.acknowledged_at, incident.acknowledged_by)),
        ("Resolved", _by(incident.resolved_at, incident.resolved_by)),
        ("Occurrences", str(incident.occurrence_count) if incident.occurrence_count > 1 else ""),
    ]
    return [(name, value) for name, value in pairs if value]


def _by(at: datetime | None, actor: str | None) -> str:
    if at is None:
        return ""
    return f"{when(at)} by {actor}" if actor else when(at)


def linkable(url: str | None) -> bool:
    """Whether ``url`` may be offered as a link: http(s), no whitespace, at most MAX_LINK characters."""
    if not url or len(url) > MAX_LINK or any(c.isspace() for c in url):
        return False
    try:
        return urlsplit(url).scheme in ("https", "http")
    except ValueError:
        return False


def links(message: Notification) -> list[tuple[str, str]]:
    """The links a message offers: the incident's page (when the UI's address is known) and its runbook."""
    out = [("Open in Parapet", message.url)] if linkable(message.url) else []
    if linkable(message.incident.runbook_url):
        out.append(("Runbook", str(message.incident.runbook_url)))
    return out
