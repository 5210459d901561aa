"""The notifier interface: what every kind (Slack, Teams, webhook, email) implements and what the outbox hands it.

    Notifier            a Protocol: ``kind`` and ``deliver(Notification) -> Delivery``
    BaseNotifier        the class a kind subclasses: ``from_settings`` builds it from its ``notifiers:`` entry
                        and its secrets; ``coalesce`` / ``min_interval`` say how the outbox schedules it
    Notification        what to announce: the incident as it is when the job runs, the event, the target, ...
    Delivery            what happened: outcome ("posted", "updated", "sent", "unchanged"), the id the other
                        side gave the message (kept in parapet_notifier_messages), a detail for the timeline
    NotifierError       a delivery failed: it counts as an attempt (retried with backoff, then dead-lettered);
                        rate limits are not failures: ``deliver`` raises ``parapet.work.Retry(after=...)``
    redact(text)        every configured secret masked (``parapet.notify.secrets``)

A kind is one module in ``parapet.notify`` (named in ``parapet.notify.registry.MODULES``) whose class is decorated
with ``@register``. ``deliver`` runs in a worker thread, outside any transaction, and may be called again for
the same notification (at-least-once): a kind that can make its delivery idempotent does (Slack updates the
one message in place; the webhook sends a stable dedup key).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar, Final, Protocol, TypeVar

from parapet.errors import UserError
from parapet.notify.secrets import redact

if TYPE_CHECKING:
    from parapet.evidence.store import AlertInstance, Incident, TimelineEntry
    from parapet.notify.secrets import SecretReader
    from parapet.spec.model import NotifierSettings

# What a notification announces. A state change of the incident maps to one of these (an alert joining or
# leaving it, a note, an action: "updated"); the escalation tiers send "escalated".
EVENTS: Final = ("opened", "updated", "acknowledged", "resolved", "reopened", "escalated")


class NotifierError(UserError):
    """A notifier could not deliver (refused by the other side, unreachable, misconfigured). The message is
    redacted: it never holds a secret."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(redact(message), redact(hint) if hint is not None else None)


class SecretUnavailable(NotifierError):
    """A notifier's secret cannot be read: its environment variable is unset or its file unreadable."""


class UnknownNotifierKind(NotifierError):
    """The spec names a notifier kind this installation has no module for."""


@dataclass(frozen=True)
class Previous:
    """The last delivery of this target for this incident (parapet_notifier_messages), if any."""

    external_id: str | None
    digest: str | None
    sent_at: datetime
    sends: int


@dataclass(frozen=True)
class Notification:
    """One announcement, built when the job runs: ``incident`` is its state then (a coalesced Slack update
    shows the latest), ``event`` one of EVENTS, ``target`` the ``notifiers:`` name, ``tier`` the escalation tier
    (None when announced without escalation), ``url`` the incident's page, ``actor`` who caused the event."""

    incident: Incident
    event: str
    target: str
    tier: int | None = None
    url: str = ""
    actor: str | None = None
    alerts: tuple[AlertInstance, ...] = ()  # the incident's alert instances, oldest first
    entries: tuple[TimelineEntry, ...] = ()  # its latest timeline entries, oldest first
    previous: Previous | None = None
    key: str = ""  # the outbox job's key: a stable dedup key for the other side


@dataclass(frozen=True)
class Delivery:
    """The outcome of one ``deliver``: "posted", "updated", "sent", "unchanged" (nothing new to say), ...;
    ``external_id`` the other side's id of the message (Slack: channel:ts), remembered for the next delivery."""

    outcome: str
    external_id: str | None = None
    detail: str = ""
    digest: str | None = None  # what was sent, hashed: the next delivery may skip an identical one


class Notifier(Protocol):
    kind: ClassVar[str]

    def deliver(self, message: Notification) -> Delivery: ...


N = TypeVar("N", bound="BaseNotifier")


class BaseNotifier:
    """What a kind subclasses. ``coalesce``: one pending job per (target, incident), replaced by each change and
    due no earlier than ``min_interval`` after the last send (Slack's message updated in place); otherwise one
    job per change (Teams cards, webhook calls, mails)."""

    kind: ClassVar[str] = ""
    coalesce: ClassVar[bool] = False
    min_interval: ClassVar[timedelta] = timedelta(0)

    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings

    @property
    def target(self) -> str:
        return self.settings.name

    @classmethod
    def from_settings(cls: type[N], settings: NotifierSettings, secrets: SecretReader) -> N:
        """Build the notifier of ``settings``; ``secrets.read(name)`` gives a secret's value (raising
        SecretUnavailable). The default reads no secret."""
        return cls(settings)

    def deliver(self, message: Notification) -> Delivery:
        raise NotImplementedError(f"{type(self).__name__} does not deliver")


_KINDS: dict[str, type[BaseNotifier]] = {}


def register(cls: type[N]) -> type[N]:
    """Class decorator: ``cls`` delivers the notifiers of ``cls.kind``."""
    if not cls.kind:
        raise TypeError(f"{cls.__name__} has no kind")
    _KINDS[cls.kind] = cls
    return cls


def registered(kind: str) -> type[BaseNotifier] | None:
    return _KINDS.get(kind)


__all__ = [
    "EVENTS",
    "BaseNotifier",
    "Delivery",
    "Notification",
    "Notifier",
    "NotifierError",
    "Previous",
    "SecretUnavailable",
    "UnknownNotifierKind",
    "redact",
    "register",
]
