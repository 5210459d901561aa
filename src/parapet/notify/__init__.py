"""Notifiers: where an incident is announced (Slack, Microsoft Teams, a signed webhook, email).

    base.py        the interface: Notifier / BaseNotifier, Notification, Delivery, NotifierError, register
    secrets.py     secrets from environment variables or files, remembered and masked (redact)
    registry.py    kind -> module, build(settings)
    text.py        the words every notifier says about an incident (headline, event line, facts)
    transport.py   one HTTP POST and the verdict of its answer (Teams, webhook)
    slack.py, teams.py, webhook.py, smtp.py    the kinds

The outbox (job kind "notify", written by a hooks subscriber in the transaction of the change) and its handler
are in ``parapet.notify.outbox``.
"""

from __future__ import annotations

from parapet.notify.base import (
    EVENTS,
    BaseNotifier,
    Delivery,
    Notification,
    Notifier,
    NotifierError,
    Previous,
    SecretUnavailable,
    UnknownNotifierKind,
    register,
)
from parapet.notify.secrets import redact

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
