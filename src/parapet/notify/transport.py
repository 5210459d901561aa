"""One HTTP POST for the notifiers that speak HTTP (Teams Workflows, the signed webhook), and what its answer means.

    post(url, body, headers=..., timeout=...) -> Response      never follows a redirect; a timeout, a refused
                                                                connection or a TLS failure raise Unreachable
    verdict(response) -> Verdict                                 delivered (2xx) · transient (408, 425, 429, 5xx:
                                                                 try again, after Retry-After when given) ·
                                                                 rejected (any other status: the same request
                                                                 will fail again)
    conclude(verdict, ...) -> Delivery                           or the NotifierError of a failed delivery

The standard library's client is enough (one request per notification, no session to keep) and adds no
dependency to the runtime. Errors carry no URL: a Teams Workflows URL is a secret (its ``sig=`` parameter
authorises the post), and the exceptions urllib raises for a bad URL quote it whole, so they are replaced by a
fixed sentence here. Redirects are refused rather than followed: urllib would turn a redirected POST into a GET
without the body, so a moved endpoint is reported as such instead of silently losing the notification.
"""

from __future__ import annotations

import email.utils
import http.client
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

from parapet.notify.base import Delivery, NotifierError

# What a notifier keeps of an answer: enough for a diagnostic, never a whole page of HTML.
MAX_ANSWER: Final = 2048
DEFAULT_TIMEOUT: Final = 10.0
# A Retry-After longer than this is capped: a target that asks for an hour is retried within the engine's backoff.
MAX_RETRY_AFTER: Final = timedelta(minutes=5)
RATE_LIMIT_WAIT: Final = timedelta(seconds=30)  # after a 429 without Retry-After
TRANSIENT_STATUSES: Final = frozenset({408, 425, 429})


class Unreachable(Exception):
    """The request got no HTTP answer (timeout, refused connection, DNS, TLS). Its message names no URL."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes  # at most MAX_ANSWER bytes of the answer

    def text(self) -> str:
        return self.body.decode("utf-8", "replace").strip()


class Outcome(StrEnum):
    DELIVERED = "delivered"
    TRANSIENT = "transient"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    detail: str  # "HTTP 503", "HTTP 400: <first line of the answer>"
    retry_after: timedelta | None = None
    rate_limited: bool = False  # 429: wait, without counting a failed attempt


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the 3xx answer comes back as an HTTPError, i.e. a Response


_OPENER = urllib.request.build_opener(_NoRedirect())


def post(
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str],
    timeout: float = DEFAULT_TIMEOUT,
    context: ssl.SSLContext | None = None,
) -> Response:
    """POST ``body`` to ``url`` and return the answer, whatever its status."""
    opener = _OPENER if context is None else urllib.request.build_opener(_NoRedirect(), _https(context))
    try:
        request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    except ValueError:  # urllib quotes the whole URL in this message
        raise Unreachable("the URL is not an http(s) URL") from None
    try:
        with opener.open(request, timeout=timeout) as answer:
            return Response(answer.status, dict(answer.headers.items()), answer.read(MAX_ANSWER))
    except urllib.error.HTTPError as exc:
        with exc:
            return Response(exc.code, dict(exc.headers.items()) if exc.headers else {}, exc.read(MAX_ANSWER))
    except urllib.error.URLError as exc:
        raise Unreachable(_reason(exc.reason)) from None
    except TimeoutError:
        raise Unreachable(f"no answer within {timeout:g} s") from None
    except (http.client.HTTPException, ValueError) as exc:  # InvalidURL and friends quote the URL too
        raise Unreachable(f"the request failed ({type(exc).__name__})") from None
    except OSError as exc:
        raise Unreachable(_reason(exc)) from None


def _https(context: ssl.SSLContext) -> urllib.request.HTTPSHandler:
    return urllib.request.HTTPSHandler(context=context)


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "no answer before the timeout"
    if isinstance(reason, ssl.SSLError):
        return f"TLS failed ({reason.reason or type(reason).__name__})"
    if isinstance(reason, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return f"the request failed ({type(reason).__name__})"


def verdict(response: Response, *, now: datetime | None = None) -> Verdict:
    """What an answer means for the notification: delivered, worth another try, or refused for good."""
    first = response.text().splitlines()[0][:200] if response.text() else ""
    detail = f"HTTP {response.status}" + (f": {first}" if first and not 200 <= response.status < 300 else "")
    if 200 <= response.status < 300:
        return Verdict(Outcome.DELIVERED, detail)
    if response.status in TRANSIENT_STATUSES or response.status >= 500:
        wait = retry_after(response.headers, now=now)
        return Verdict(Outcome.TRANSIENT, detail, wait, rate_limited=response.status == 429)
    return Verdict(Outcome.REJECTED, detail)


def retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> timedelta | None:
    """Retry-After in seconds or as an HTTP date (RFC 9110 10.2.3), capped at MAX_RETRY_AFTER; None when absent."""
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), "").strip()
    if not raw:
        return None
    if raw.isdigit():
        return min(timedelta(seconds=int(raw[:6])), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    wait = when - (now or datetime.now(UTC))
    return min(max(wait, timedelta(0)), MAX_RETRY_AFTER)


def conclude(result: Verdict, *, delivered: str, where: str) -> Delivery:
    """The Delivery of a delivered verdict. A rate limit (429) raises the engine's Retry: the job runs again after
    Retry-After (30 s without one) and the attempt does not count. Anything else raises the NotifierError the
    engine retries with backoff (counted as a failed attempt, dead-lettered after the last) and the timeline
    records. ``where`` names the other side ("Teams", "the webhook"), never its URL."""
    if result.outcome is Outcome.DELIVERED:
        return Delivery(delivered, detail=result.detail)
    if result.rate_limited:
        from parapet.work import Retry  # the engine (and SQLAlchemy) only when a delivery runs: doctor stays light

        raise Retry(after=result.retry_after or RATE_LIMIT_WAIT, reason=f"{where} is rate limiting ({result.detail})")
    if result.outcome is Outcome.TRANSIENT:
        raise NotifierError(f"{where} answered {result.detail}; the delivery will be retried")
    raise NotifierError(f"{where} refused the notification: {result.detail}", hint=REFUSED_HINT)


def unreachable(exc: Unreachable, *, where: str) -> NotifierError:
    return NotifierError(f"{where} could not be reached: {exc}; the delivery will be retried")


REFUSED_HINT: Final = "check the target's URL and secret; the same request would be refused again"
