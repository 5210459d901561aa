"""A generic webhook: each state change POSTed as JSON, signed with HMAC-SHA256 over the timestamp and the body.

Headers of every request (names in SIGNATURE_HEADER, DEDUP_HEADER, EVENT_HEADER):

    Content-Type: application/json
    Parapet-Signature: t=1765049220,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
    Parapet-Dedup-Key: ops-hook:12:acknowledged:3
    Parapet-Event: acknowledged

``v1`` is the lowercase hex HMAC-SHA256, keyed with the shared secret (its UTF-8 bytes), of
``f"{t}.".encode() + raw_body``: the timestamp, a dot, then the body's exact bytes. While a secret is rotated
the secret file holds two lines (the current secret, then the next); each gets its own ``v1=`` entry, so a
receiver holding either accepts the request. A receiver recomputes the HMAC over the bytes it received (before
parsing the JSON), compares in constant time, and refuses a ``t`` more than TOLERANCE away from its clock, so a
captured request cannot be replayed later. ``verify`` below is that check; docs/notifiers.md has a copy a
receiver can paste.

The dedup key (at most 255 characters; longer ones end in a hash of the whole) is the same on every retry of
one notification, in the ``Parapet-Dedup-Key`` header and as ``dedup_key`` in the body: a receiver that keeps
the keys it has seen processes each notification once, however often it was delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from parapet.notify import secrets as secret_store
from parapet.notify import transport
from parapet.notify.base import BaseNotifier, Delivery, Notification, NotifierError, register
from parapet.notify.secrets import SecretReader
from parapet.spec.model import NotifierSettings

if TYPE_CHECKING:
    from parapet.evidence.store import Incident

SIGNATURE_HEADER: Final = "Parapet-Signature"
DEDUP_HEADER: Final = "Parapet-Dedup-Key"
EVENT_HEADER: Final = "Parapet-Event"
CONTENT_TYPE: Final = "application/json"
SIGNATURE_SCHEME: Final = "v1"
MAX_DEDUP_KEY: Final = 255
KEY_SAFE: Final = ":@!$&'()*+,;=-._~/"  # printable ASCII kept as it is in a dedup key
TOLERANCE: Final = 300  # seconds a receiver accepts between the signature's timestamp and its own clock
MAX_SECRETS: Final = 2  # the current secret and, while rotating, the next
TIMEOUT: Final = 10.0  # seconds for the receiver to answer


def dedup_key(*parts: object) -> str:
    """``parts`` joined with ':' (anything but printable ASCII percent-encoded, so the key is a valid header value);
    over 255 characters, cut and ended with '~' and 16 hex digits of the whole key's SHA-256."""
    key = quote(":".join(str(p) for p in parts), safe=KEY_SAFE)
    if len(key) <= MAX_DEDUP_KEY:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return f"{key[: MAX_DEDUP_KEY - len(digest) - 1]}~{digest}"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``v1`` signature: hex HMAC-SHA256 of ``{timestamp}.{body}`` keyed with the secret."""
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<hex>[,v1=<hex>]``: one ``v1`` per secret."""
    return ",".join([f"t={timestamp}", *(f"{SIGNATURE_SCHEME}={sign(s, timestamp, body)}" for s in secrets)])


def verify(secret: str, header: str, body: bytes, *, now: float, tolerance: int = TOLERANCE) -> bool:
    """A receiver's check: one ``v1`` matches the HMAC of this body and ``t`` is within ``tolerance`` of ``now``."""
    fields = [item.split("=", 1) for item in header.split(",") if "=" in item]
    stamps = [value for name, value in fields if name.strip() == "t"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    return any(
        hmac.compare_digest(expected, value.strip()) for name, value in fields if name.strip() == SIGNATURE_SCHEME
    )


def document(message: Notification, key: str) -> dict[str, Any]:
    """The JSON body: the event, who caused it, the dedup key and the incident as read at delivery time."""
    return {
        "dedup_key": key,
        "event": message.event,
        "target": message.target,
        "actor": message.actor,
        "tier": message.tier,
        "url": message.url,
        "incident": incident_document(message.incident),
    }


def incident_document(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "state": incident.state,
        "severity": incident.severity,
        "service": incident.service,
        "slo": incident.slo,
        "alert_name": incident.alert_name,
        "summary": incident.summary,
        "labels": dict(incident.labels),
        "annotations": dict(incident.annotations),
        "runbook_url": incident.runbook_url,
        "fingerprint": incident.fingerprint,
        "correlation_key": incident.correlation_key,
        "opened_at": _iso(incident.opened_at),
        "opened_by": incident.opened_by,
        "acknowledged_at": _iso(incident.acknowledged_at),
        "acknowledged_by": incident.acknowledged_by,
        "resolved_at": _iso(incident.resolved_at),
        "resolved_by": incident.resolved_by,
        "last_seen_at": _iso(incident.last_seen_at),
        "occurrence_count": incident.occurrence_count,
        "version": incident.version,
    }


def _iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def headers(secrets: Sequence[str], body: bytes, *, key: str, event: str, timestamp: int) -> dict[str, str]:
    """The request's headers, signature included."""
    return {
        "Content-Type": CONTENT_TYPE,
        SIGNATURE_HEADER: signature_header(secrets, timestamp, body),
        DEDUP_HEADER: key,
        EVENT_HEADER: event,
    }


def signing_secrets(raw: str, *, target: str) -> tuple[str, ...]:
    """The secrets of a secret's value: one per line, at most two (the current one, then the next)."""
    lines = tuple(line.strip() for line in raw.splitlines() if line.strip())
    if len(lines) > MAX_SECRETS:
        raise NotifierError(
            f"the signing secret of notifier {target} has {len(lines)} lines; at most {MAX_SECRETS} are used",
            hint="keep the current secret and, while rotating, the next one",
        )
    for line in lines:
        secret_store.remember(line)  # each line is masked on its own, not only the whole value
    return lines


@register
class SignedWebhook(BaseNotifier):
    """``kind: webhook``: POSTs each state change, signed, to ``url`` (or the URL read from ``url_env``/``url_file``,
    when it holds a token of its own)."""

    kind = "webhook"

    def __init__(self, settings: NotifierSettings, url: str, secrets: tuple[str, ...]) -> None:
        super().__init__(settings)
        self._url = url
        self._secrets = secrets

    def __repr__(self) -> str:
        return f"SignedWebhook({self.target!r})"

    @classmethod
    def from_settings(cls, settings: NotifierSettings, secrets: SecretReader) -> SignedWebhook:
        url = secrets.read("url") if secrets.has("url") else str(settings.option("url"))
        return cls(settings, url, signing_secrets(secrets.read("secret"), target=settings.name))

    def deliver(self, message: Notification) -> Delivery:
        key = dedup_key(message.key) if message.key else dedup_key(self.target, message.incident.id, message.event)
        body = encode(document(message, key))
        sent = headers(self._secrets, body, key=key, event=message.event, timestamp=int(time.time()))
        try:
            answer = transport.post(self._url, body, headers=sent, timeout=TIMEOUT)
        except transport.Unreachable as exc:
            raise transport.unreachable(exc, where="the webhook") from None
        return transport.conclude(transport.verdict(answer), delivered="posted", where="the webhook")
