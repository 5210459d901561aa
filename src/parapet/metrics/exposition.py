"""The ``/metrics`` endpoint as an ASGI or WSGI app, with optional bearer or basic auth.

Content negotiation follows prometheus_client: a scrape that accepts ``application/openmetrics-text``
gets OpenMetrics (which carries exemplars), anything else the text format. In multiprocess mode every
scrape aggregates all processes' files (``multiprocess.scrape_registry``).

    app.add_route("/metrics", metrics_asgi_app(bearer_token=os.environ["METRICS_TOKEN"]))   # Starlette
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/metrics": metrics_wsgi_app()})     # Flask
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS
from prometheus_client.registry import Collector

from parapet.metrics.multiprocess import scrape_registry

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
StartResponse = Callable[..., Any]

_UNAUTHORIZED = b"unauthorized\n"


class MetricsEndpoint:
    """Authorisation and rendering shared by the ASGI app, the WSGI app and the Django view.

    ``created_series=False`` (the default) leaves the ``_created`` samples out of the text format.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        bearer_token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        created_series: bool = False,
    ) -> None:
        if bearer_token is not None and not bearer_token:
            raise ValueError("bearer_token is empty: pass None to serve /metrics without auth")
        if basic_auth is not None and (not basic_auth[0] or not basic_auth[1]):
            raise ValueError("basic_auth needs a user name and a password")
        self.registry = registry
        self._bearer = bearer_token.encode() if bearer_token else None
        self._basic = basic_auth
        self._created = created_series

    @property
    def auth_required(self) -> bool:
        return self._bearer is not None or self._basic is not None

    def challenge(self) -> str:
        return 'Basic realm="metrics"' if self._basic is not None else 'Bearer realm="metrics"'

    def authorized(self, authorization: str | None) -> bool:
        if not self.auth_required:
            return True
        if not authorization:
            return False
        scheme, _, credentials = authorization.partition(" ")
        scheme = scheme.lower()
        credentials = credentials.strip()
        if scheme == "bearer" and self._bearer is not None:
            return hmac.compare_digest(credentials.encode(), self._bearer)
        if scheme == "basic" and self._basic is not None:
            try:
                decoded = base64.b64decode(credentials, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False
            user, sep, password = decoded.partition(":")
            if not sep:
                return False
            user_ok = hmac.compare_digest(user.encode(), self._basic[0].encode())
            password_ok = hmac.compare_digest(password.encode(), self._basic[1].encode())
            return user_ok and password_ok
        return False

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition body and its content type for this Accept header."""
        return render_exposition(scrape_registry(self.registry), accept, created_series=self._created)


def render_exposition(source: Collector, accept: str | None, *, created_series: bool = False) -> tuple[bytes, str]:
    """``source`` in the format this Accept header asks for (OpenMetrics, else text without ``_created``)."""
    encoder, content_type = choose_encoder(accept or "")
    if not created_series and not content_type.startswith(OPENMETRICS.split(";")[0]):
        source = _WithoutCreated(source)
    return encoder(source), content_type


class _WithoutCreated(Collector):
    """The text format shows each ``_created`` sample as a series of its own; Prometheus stores it as one.

    Dropping them halves the series a histogram or counter costs. OpenMetrics keeps them (it carries them
    as the family's created timestamp, not as series).
    """

    def __init__(self, source: Collector) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        for family in self.source.collect():
            samples = [s for s in family.samples if not s.name.endswith("_created")]
            if len(samples) != len(family.samples):
                family.samples = samples
            yield family


class MetricsASGIApp:
    """An ASGI app serving the metrics (GET and HEAD)."""

    def __init__(self, endpoint: MetricsEndpoint) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        if not self.endpoint.authorized(headers.get("authorization")):
            await _asgi_reply(
                send,
                401,
                _UNAUTHORIZED,
                "text/plain; charset=utf-8",
                [(b"www-authenticate", self.endpoint.challenge())],
            )
            return
        if scope.get("method", "GET") not in ("GET", "HEAD"):
            await _asgi_reply(
                send, 405, b"method not allowed\n", "text/plain; charset=utf-8", [(b"allow", "GET, HEAD")]
            )
            return
        body, content_type = self.endpoint.render(headers.get("accept"))
        await _asgi_reply(send, 200, b"" if scope.get("method") == "HEAD" else body, content_type, [])


async def _asgi_reply(send: Send, status: int, body: bytes, content_type: str, extra: list[tuple[bytes, str]]) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    headers.extend((k, v.encode()) for k, v in extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class MetricsWSGIApp:
    """A WSGI app serving the metrics (GET and HEAD)."""

    def __init__(self, endpoint: MetricsEndpoint) -> None:
        self.endpoint = endpoint

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not self.endpoint.authorized(environ.get("HTTP_AUTHORIZATION")):
            return _wsgi_reply(
                start_response,
                "401 Unauthorized",
                _UNAUTHORIZED,
                "text/plain; charset=utf-8",
                [("WWW-Authenticate", self.endpoint.challenge())],
            )
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return _wsgi_reply(
                start_response,
                "405 Method Not Allowed",
                b"method not allowed\n",
                "text/plain",
                [("Allow", "GET, HEAD")],
            )
        body, content_type = self.endpoint.render(environ.get("HTTP_ACCEPT"))
        return _wsgi_reply(start_response, "200 OK", b"" if method == "HEAD" else body, content_type, [])


def _wsgi_reply(
    start_response: StartResponse, status: str, body: bytes, content_type: str, extra: list[tuple[str, str]]
) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra])
    return [body]


def metrics_asgi_app(
    registry: CollectorRegistry | None = None,
    *,
    bearer_token: str | None = None,
    basic_auth: tuple[str, str] | None = None,
) -> MetricsASGIApp:
    """``/metrics`` for Starlette/FastAPI: ``app.add_route("/metrics", metrics_asgi_app())``."""
    return MetricsASGIApp(MetricsEndpoint(registry, bearer_token=bearer_token, basic_auth=basic_auth))


def metrics_wsgi_app(
    registry: CollectorRegistry | None = None,
    *,
    bearer_token: str | None = None,
    basic_auth: tuple[str, str] | None = None,
) -> MetricsWSGIApp:
    """``/metrics`` for any WSGI stack (Flask: mount with werkzeug's DispatcherMiddleware)."""
    return MetricsWSGIApp(MetricsEndpoint(registry, bearer_token=bearer_token, basic_auth=basic_auth))
