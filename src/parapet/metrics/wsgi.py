"""WSGI middleware, and its Flask wiring.

    instrument_flask(app)                                   # Flask: middleware + route templates
    app.wsgi_app = ParapetWSGIMiddleware(app.wsgi_app)      # any other WSGI app (routes stay empty)

The route is read from ``environ["parapet.route"]``, which a framework adapter sets once its router has
matched (Flask: ``request.url_rule.rule``, e.g. ``/items/<int:item_id>``); a request nothing matched keeps
an empty route. The duration runs until the server closes the response iterable, so a streamed body is
timed to its end. An exception from the app or from the body is recorded and re-raised unchanged; an
exception the framework turned into a 500 is recorded with its class name when the adapter reports it in
``environ["parapet.error_type"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from time import perf_counter
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Gauge

from parapet.metrics.exposition import MetricsEndpoint, MetricsWSGIApp
from parapet.metrics.http import HttpRecorder, error_type_for, normalize_method

if TYPE_CHECKING:
    from flask import Flask

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

ROUTE_KEY = "parapet.route"
ERROR_KEY = "parapet.error_type"


class ParapetWSGIMiddleware:
    """Record ``http_server_request_duration_seconds`` and ``http_server_active_requests``."""

    def __init__(self, app: WSGIApp, *, registry: CollectorRegistry | None = None, exemplars: bool = True) -> None:
        self.app = app
        self.recorder = HttpRecorder(registry, exemplars=exemplars)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = normalize_method(environ.get("REQUEST_METHOD", "GET"))
        active = self.recorder.active(method)
        state = _Request(self.recorder, environ, method, active)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            state.status = int(status[:3])
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        active.inc()
        try:
            body = self.app(environ, start)
        except BaseException as exc:
            state.finish(exc)
            raise
        return _Body(body, state)


class _Request:
    __slots__ = ("active", "done", "environ", "method", "recorder", "start", "status")

    def __init__(self, recorder: HttpRecorder, environ: Environ, method: str, active: Gauge) -> None:
        self.recorder = recorder
        self.environ = environ
        self.method = method
        self.active = active
        self.status = 0
        self.done = False
        self.start = perf_counter()

    def finish(self, exc: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        seconds = perf_counter() - self.start
        status = self.status or 500
        route = self.environ.get(ROUTE_KEY, "")
        error = self.environ.get(ERROR_KEY) if exc is None else None
        error_type = error if isinstance(error, str) and error else error_type_for(status, exc)
        self.active.dec()
        self.recorder.observe(self.method, route if isinstance(route, str) else "", status, error_type, seconds)


class _Body:
    """The response iterable; records when the server closes it (end of body) or iteration raises."""

    def __init__(self, body: Iterable[bytes], state: _Request) -> None:
        self._body = body
        self._state = state

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except GeneratorExit:
            raise  # the server stopped reading (client gone); close() records
        except BaseException as exc:
            self._state.finish(exc)
            raise
        self._state.finish()

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._state.finish()


def instrument_flask(
    app: Flask,
    *,
    registry: CollectorRegistry | None = None,
    metrics_path: str | None = "/metrics",
    bearer_token: str | None = None,
    basic_auth: tuple[str, str] | None = None,
    exemplars: bool = True,
) -> Flask:
    """Wrap ``app.wsgi_app`` with the middleware, report route templates and errors, serve ``metrics_path``."""
    from flask import got_request_exception, request, request_started

    def on_started(sender: Flask, **_: Any) -> None:
        rule = request.url_rule
        request.environ[ROUTE_KEY] = rule.rule if rule is not None else ""

    def on_exception(sender: Flask, exception: BaseException, **_: Any) -> None:
        request.environ[ERROR_KEY] = type(exception).__qualname__

    request_started.connect(on_started, app, weak=False)
    got_request_exception.connect(on_exception, app, weak=False)
    inner: WSGIApp = app.wsgi_app
    if metrics_path is not None:
        endpoint = MetricsWSGIApp(MetricsEndpoint(registry, bearer_token=bearer_token, basic_auth=basic_auth))
        inner = _PathDispatch(inner, metrics_path, endpoint)
    app.wsgi_app = ParapetWSGIMiddleware(inner, registry=registry, exemplars=exemplars)  # type: ignore[method-assign]
    return app


class _PathDispatch:
    """Serve one exact path with another WSGI app (the metrics endpoint), everything else with ``app``."""

    def __init__(self, app: WSGIApp, path: str, endpoint: WSGIApp) -> None:
        self.app = app
        self.path = path
        self.endpoint = endpoint

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == self.path:
            environ[ROUTE_KEY] = self.path
            return self.endpoint(environ, start_response)
        return self.app(environ, start_response)
