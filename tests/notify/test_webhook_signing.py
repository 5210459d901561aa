"""The signed webhook's signature, dedup key and body, checked by a real receiver on loopback and by the
receiver snippet docs/notifiers.md publishes (run here exactly as written there)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from parapet.notify import webhook
from parapet.notify.base import Notification
from parapet.notify.transport import post
from tests.conftest import ROOT
from tests.notify.helpers import incident, notification, receiver

SECRET = "whsec-test-1"
NEXT_SECRET = "whsec-test-2"


def documented_verifier() -> Callable[..., bool]:
    """The Python block after ``<!-- receiver-snippet -->`` in docs/notifiers.md, executed as a receiver would."""
    text = (ROOT / "docs" / "notifiers.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- receiver-snippet -->\n```python\n(.*?)\n```", text, re.DOTALL)
    assert match, "docs/notifiers.md lost its receiver snippet"
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), "docs/notifiers.md", "exec"), namespace)
    verifier: Callable[..., bool] = namespace["verify_parapet"]
    return verifier


def deliver(secrets: list[str], note: Notification, *, timestamp: int | None = None) -> tuple[dict[str, str], bytes]:
    key = webhook.dedup_key(note.target, note.incident.id, note.event, 1)
    body = webhook.encode(webhook.document(note, key))
    headers = webhook.headers(secrets, body, key=key, event=note.event, timestamp=timestamp or int(time.time()))
    with receiver() as r:
        post(f"{r.url}/parapet", body, headers=headers)
    (got,) = r.requests
    return got.headers, got.body


def test_a_real_receiver_verifies_the_signature_with_the_documented_snippet() -> None:
    verify_parapet = documented_verifier()
    headers, body = deliver([SECRET], notification(event="acknowledged", actor="alice"))
    signature = headers[webhook.SIGNATURE_HEADER]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", signature)
    assert verify_parapet(SECRET, signature, body)
    assert webhook.verify(SECRET, signature, body, now=time.time())
    # What a receiver must refuse: another secret, a changed body, a replay after five minutes.
    assert not verify_parapet("another-secret", signature, body)
    assert not verify_parapet(SECRET, signature, body.replace(b"acknowledged", b"resolved"))
    old = webhook.signature_header([SECRET], int(time.time()) - 301, body)
    assert not verify_parapet(SECRET, old, body)
    assert not webhook.verify(SECRET, old, body, now=time.time())
    for forged in ("", "v1=" + "0" * 64, f"t={int(time.time())}", "t=x,v1=y", f"t=1,t=2,{signature}"):
        assert not verify_parapet(SECRET, forged, body), forged
        assert not webhook.verify(SECRET, forged, body, now=time.time()), forged


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    body = b'{"a":1}'
    expected = hmac.new(SECRET.encode(), b"1765049220." + body, hashlib.sha256).hexdigest()
    assert webhook.signature_header([SECRET], 1765049220, body) == f"t=1765049220,v1={expected}"


def test_while_rotating_both_secrets_sign_and_either_verifies() -> None:
    verify_parapet = documented_verifier()
    headers, body = deliver([SECRET, NEXT_SECRET], notification())
    signature = headers[webhook.SIGNATURE_HEADER]
    assert signature.count("v1=") == 2
    assert verify_parapet(SECRET, signature, body) and verify_parapet(NEXT_SECRET, signature, body)


def test_the_body_and_headers_carry_the_event_the_incident_and_the_dedup_key() -> None:
    note = notification(event="resolved", actor="bob", incident=incident(state="resolved", resolved_by="bob"))
    headers, body = deliver([SECRET], note)
    document = json.loads(body)
    assert headers[webhook.DEDUP_HEADER] == document["dedup_key"] == "ops:12:resolved:1"
    assert headers[webhook.EVENT_HEADER] == document["event"] == "resolved"
    assert headers["Content-Type"] == "application/json"
    assert document["actor"] == "bob" and document["url"] == note.url
    assert document["incident"]["state"] == "resolved" and document["incident"]["resolved_by"] == "bob"
    assert document["incident"]["opened_at"] == "2026-12-06T19:00:00Z"
    assert document["incident"]["labels"] == {"env": "prod", "region": "eu-west-1"}


@pytest.mark.parametrize(
    "parts",
    [("ops", 12, "opened", 1), ("t" * 300, 12, "opened", 1), ("é" * 200, 99999999, "acknowledged", 7)],
)
def test_the_dedup_key_is_stable_ascii_and_at_most_255_characters(parts: tuple[object, ...]) -> None:
    key = webhook.dedup_key(*parts)
    assert key == webhook.dedup_key(*parts)
    assert len(key) <= webhook.MAX_DEDUP_KEY and key.isascii() and key.isprintable()
    assert key != webhook.dedup_key(*parts[:-1], 2)
