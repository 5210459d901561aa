"""ASGI middleware for Starlette and FastAPI.

    app.add_middleware(ParapetMiddleware)
    app.add_route("/metrics", metrics_asgi_app())

The route is the template the router matched (``/items/{item_id}``), read from ``scope["route"]`` that
Starlette's router sets, or found by matching the app's routes again (mounted sub-apps, older Starlette).
A request nothing matched gets an empty route, never its raw path. The duration runs to the last body
message, so a streaming response is timed to the end of its body; an exception is recorded with its class
name as ``error_type`` and re-raised unchanged. Add the middleware inside OpenTelemetry's, so that the
exemplar carries the request span's trace id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from time import perf_counter
from typing import Any

from prometheus_client import CollectorRegistry

from parapet.metrics.http import HttpRecorder, error_type_for, normalize_method

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ParapetMiddleware:
    """Record ``http_server_request_duration_seconds`` and ``http_server_active_requests``."""

    def __init__(self, app: ASGIApp, *, registry: CollectorRegistry | None = None, exemplars: bool = True) -> None:
        self.app = app
        self.recorder = HttpRecorder(registry, exemplars=exemplars)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = normalize_method(scope["method"])
        path = scope.get("path", "")
        root_path = scope.get("root_path", "")
        root_app = scope.get("app")
        active = self.recorder.active(method)
        status = 0
        ended = 0.0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, ended
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
            elif kind == "http.response.body" and not message.get("more_body", False):
                await send(message)
                ended = perf_counter()
                return
            await send(message)

        active.inc()
        start = perf_counter()
        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException as exc:
            seconds = (ended or perf_counter()) - start
            code = status or 500
            route = route_template(scope, root_app, path, root_path)
            self.recorder.observe(method, route, code, error_type_for(code, exc), seconds)
            raise
        else:
            seconds = (ended or perf_counter()) - start
            route = route_template(scope, root_app, path, root_path)
            self.recorder.observe(method, route, status, error_type_for(status), seconds)
        finally:
            active.dec()


def route_template(scope: Scope, root_app: Any, path: str, root_path: str) -> str:
    """The matched route's template, or "" when nothing matched."""
    route = scope.get("route")
    if route is not None and scope.get("root_path", "") == root_path:
        template = getattr(route, "path", None)
        if isinstance(template, str) and not hasattr(route, "routes"):
            return template
    routes = getattr(root_app, "routes", None)
    if not routes:
        return ""
    probe = {
        "type": "http",
        "path": path,
        "root_path": root_path,
        "method": scope.get("method", "GET"),
        "headers": scope.get("headers", []),
    }
    return _match(routes, probe, "") or ""


def _match(routes: Sequence[Any], scope: Scope, prefix: str) -> str | None:
    from starlette.routing import Match, Mount

    partial: str | None = None
    for route in routes:
        try:
            match, child = route.matches(scope)
        except Exception:  # a custom route that cannot match this probe scope
            continue
        if match is Match.NONE:
            continue
        template = _template(route, {**scope, **child}, prefix, Mount)
        if match is Match.FULL:
            return template
        if partial is None:
            partial = template
    return partial


def _template(route: Any, child_scope: Scope, prefix: str, mount_type: type) -> str | None:
    sub_routes = getattr(route, "routes", None)
    own = getattr(route, "path", "") if isinstance(route, mount_type) or not sub_routes else ""
    if sub_routes:
        inner = _match(sub_routes, child_scope, prefix + own)
        return inner
    if isinstance(route, mount_type):
        return prefix + str(getattr(route, "path_format", own))
    return prefix + str(own)
