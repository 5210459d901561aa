"""Django middleware and the ``/metrics`` view.

    MIDDLEWARE = ["parapet.metrics.django.ParapetMiddleware", ...]      # first, after OpenTelemetry's
    urlpatterns += [path("metrics", parapet.metrics.django.metrics_view)]

The route is ``request.resolver_match.route`` (``items/<int:pk>/``, the value OpenTelemetry's Django
instrumentation puts in ``http.route``); a request that resolved nothing gets an empty route. An exception
a view raised is recorded with its class name before Django turns it into a 500. A streaming response is
timed to the end of its body. The view reads ``PARAPET_METRICS_BEARER_TOKEN`` and
``PARAPET_METRICS_BASIC_AUTH`` (a ``(user, password)`` pair) from settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from time import perf_counter
from typing import Any

from django.conf import settings  # type: ignore[import-untyped]
from django.http import (  # type: ignore[import-untyped]
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)

from parapet.metrics.exposition import MetricsEndpoint
from parapet.metrics.http import HttpRecorder, error_type_for, normalize_method

_ERROR_ATTR = "_parapet_error_type"


class ParapetMiddleware:
    """Record ``http_server_request_duration_seconds`` and ``http_server_active_requests``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.recorder = HttpRecorder()

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        method = normalize_method(request.method or "GET")
        active = self.recorder.active(method)
        active.inc()
        start = perf_counter()
        try:
            response = self.get_response(request)
        except BaseException as exc:
            active.dec()
            self.recorder.observe(method, _route(request), 500, error_type_for(500, exc), perf_counter() - start)
            raise
        if isinstance(response, StreamingHttpResponse):
            response.streaming_content = self._timed(
                response.streaming_content, request, method, response.status_code, start
            )
            return response
        active.dec()
        self._record(request, method, response.status_code, start)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        setattr(request, _ERROR_ATTR, type(exception).__qualname__)

    def _record(
        self, request: HttpRequest, method: str, status: int, start: float, exc: BaseException | None = None
    ) -> None:
        reported = getattr(request, _ERROR_ATTR, None)
        error_type = reported if exc is None and isinstance(reported, str) else error_type_for(status, exc)
        self.recorder.observe(method, _route(request), status, error_type, perf_counter() - start)

    def _timed(
        self, content: Iterator[Any], request: HttpRequest, method: str, status: int, start: float
    ) -> Iterator[Any]:
        try:
            yield from content
        except BaseException as exc:
            self._record(request, method, status, start, exc)
            raise
        else:
            self._record(request, method, status, start)
        finally:
            self.recorder.active(method).dec()


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None) if match is not None else None
    return route if isinstance(route, str) else ""


def _endpoint() -> MetricsEndpoint:
    basic = getattr(settings, "PARAPET_METRICS_BASIC_AUTH", None)
    return MetricsEndpoint(
        bearer_token=getattr(settings, "PARAPET_METRICS_BEARER_TOKEN", None),
        basic_auth=(str(basic[0]), str(basic[1])) if basic else None,
    )


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Serve the metrics, negotiating OpenMetrics, behind the auth the settings ask for."""
    endpoint = _endpoint()
    if not endpoint.authorized(request.headers.get("Authorization")):
        response = HttpResponse(b"unauthorized\n", status=401, content_type="text/plain; charset=utf-8")
        response["WWW-Authenticate"] = endpoint.challenge()
        return response
    if request.method not in ("GET", "HEAD"):
        response = HttpResponse(b"method not allowed\n", status=405, content_type="text/plain; charset=utf-8")
        response["Allow"] = "GET, HEAD"
        return response
    body, content_type = endpoint.render(request.headers.get("Accept"))
    return HttpResponse(body, content_type=content_type)
