"""The HTTP POST the Teams and webhook notifiers share, against a real server on loopback."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest

from parapet.notify import transport
from parapet.notify.transport import Outcome, Response, Unreachable, post, verdict
from tests.notify.helpers import CANARY, receiver


def test_a_post_arrives_whole_and_2xx_is_delivered() -> None:
    with receiver() as r:
        answer = post(f"{r.url}/hook?sig={CANARY}", b'{"a":1}', headers={"Content-Type": "application/json"})
    assert answer.status == 202
    assert verdict(answer).outcome is Outcome.DELIVERED
    (got,) = r.requests
    assert got.path == f"/hook?sig={CANARY}"
    assert got.body == b'{"a":1}' and got.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (408, Outcome.TRANSIENT),
        (429, Outcome.TRANSIENT),
        (500, Outcome.TRANSIENT),
        (503, Outcome.TRANSIENT),
        (400, Outcome.REJECTED),
        (401, Outcome.REJECTED),
        (404, Outcome.REJECTED),
        (413, Outcome.REJECTED),
    ],
)
def test_statuses_mean_delivered_transient_or_rejected(status: int, outcome: Outcome) -> None:
    with receiver() as r:
        r.statuses.append(status)
        answer = post(r.url, b"{}", headers={})
    assert answer.status == status
    result = verdict(answer)
    assert result.outcome is outcome
    assert result.detail.startswith(f"HTTP {status}")


def test_retry_after_is_honoured_in_seconds_or_as_a_date_and_capped() -> None:
    now = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
    with receiver() as r:
        r.statuses.append(429)
        r.answer_headers["Retry-After"] = "7"
        answer = post(r.url, b"{}", headers={})
    assert verdict(answer).retry_after == timedelta(seconds=7)
    dated = Response(503, {"retry-after": "Sun, 06 Dec 2026 20:00:30 GMT"}, b"")
    assert verdict(dated, now=now).retry_after == timedelta(seconds=30)
    assert verdict(Response(503, {"Retry-After": "86400"}, b""), now=now).retry_after == transport.MAX_RETRY_AFTER
    assert verdict(Response(503, {"Retry-After": "soon"}, b""), now=now).retry_after is None


def test_a_redirect_is_not_followed() -> None:
    with receiver() as r:
        r.statuses.append(302)
        r.answer_headers["Location"] = "/elsewhere"
        answer = post(r.url, b"{}", headers={})
    assert answer.status == 302 and len(r.requests) == 1
    assert verdict(answer).outcome is Outcome.REJECTED


def test_a_slow_target_times_out_without_naming_the_url() -> None:
    with receiver() as r:
        r.delay = 2.0
        with pytest.raises(Unreachable) as caught:
            post(f"{r.url}/?sig={CANARY}", b"{}", headers={}, timeout=0.3)
    assert CANARY not in str(caught.value) and "127.0.0.1" not in str(caught.value)


def test_a_closed_port_or_a_bad_url_is_unreachable_and_the_error_hides_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for url in (
        f"http://127.0.0.1:{port}/?sig={CANARY}",
        f"ftp://example.invalid/?sig={CANARY}",
        f"{CANARY}://nothing",
        f"http://[{CANARY}/",
        f"http://exa mple.com/?sig={CANARY}",
    ):
        with pytest.raises(Unreachable) as caught:
            post(url, b"{}", headers={}, timeout=2)
        assert CANARY not in str(caught.value), url
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
