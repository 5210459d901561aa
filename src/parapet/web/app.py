"""The app factory: settings resolved once, then route groups and middleware composed into one Starlette app.

A route group is a function ``(settings) -> list of routes``; ``ROUTE_GROUPS`` lists them in order (the
webhook, health, changes and metrics, MCP, the operator UI). Middleware factories work the same way
(``MIDDLEWARE``). Handlers read the settings from ``request.app.state.parapet`` (``settings_of(request)``).

A route group that needs something running while the app serves (the MCP endpoint's session manager)
appends a context-manager factory to ``settings.lifespans``; ``lifespan(app)`` enters them all. It is the
app's own lifespan, and what a host that mounts the app enters in its lifespan (Starlette runs no lifespan
of a mounted app).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute

from parapet.evidence.db import create_engine_for, resolve_url
from parapet.evidence.store import Store
from parapet.spec.model import Spec
from parapet.work import registry

# A request waits at most this long for a database lock or connection, then answers 503 (the store's own
# default is 30 s, right for the CLI, too long for Alertmanager's request).
BUSY_TIMEOUT_S = 5.0

# ``user_provider(connection) -> user or None``: the host's own identity (a session it already has).
UserProvider = Callable[[HTTPConnection], Any]


@dataclass
class WebSettings:
    """What every part of the app reads: the store, the spec (if any), the webhook's secrets, the UI's hooks."""

    store: Store
    spec: Spec | None = None
    webhook_tokens: tuple[str, ...] = ()
    user_provider: UserProvider | None = None
    templates_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # options of later route groups (the UI's, say)
    # What must run while the app serves, entered by ``lifespan`` (route groups append to it).
    lifespans: list[Callable[[], AbstractAsyncContextManager[None]]] = field(default_factory=list)


RouteGroup = Callable[[WebSettings], Sequence[BaseRoute]]
MiddlewareFactory = Callable[[WebSettings], Sequence[Middleware]]


def _webhook_routes(settings: WebSettings) -> Sequence[BaseRoute]:
    from parapet.web import webhook

    return webhook.routes(settings)


def _health_routes(settings: WebSettings) -> Sequence[BaseRoute]:
    from parapet.web import health

    return health.routes(settings)


def _changes_routes(settings: WebSettings) -> Sequence[BaseRoute]:
    from parapet.web import changes

    return changes.routes(settings)


def _slack_routes(settings: WebSettings) -> Sequence[BaseRoute]:
    from parapet.web import slack

    return slack.routes(settings)


def _notification_routes(settings: WebSettings) -> Sequence[BaseRoute]:
    from parapet.web import notifications

    return notifications.routes(settings)


def _mcp_routes(settings: WebSettings) -> Sequence[BaseRoute]:
    from parapet.mcp import http

    return http.routes(settings)


def _escalation_routes(settings: WebSettings) -> Sequence[BaseRoute]:
    from parapet.web import escalation

    return escalation.routes(settings)


def _ui_routes(settings: WebSettings) -> Sequence[BaseRoute]:
    from parapet.web import ui

    return ui.routes(settings)


# In order; the UI's mount at "" comes last (it answers every path the others leave).
ROUTE_GROUPS: list[RouteGroup] = [
    _webhook_routes,
    _health_routes,
    _changes_routes,
    _slack_routes,
    _notification_routes,
    _mcp_routes,
    _escalation_routes,
    _ui_routes,
]
MIDDLEWARE: list[MiddlewareFactory] = []


def create_app(
    *,
    spec_path: str | Path | None = "parapet.yaml",
    database_url: str | None = None,
    webhook_tokens: Sequence[str] | None = None,
    user_provider: UserProvider | None = None,
    templates_dir: str | Path | None = None,
    store: Store | None = None,
    route_groups: Sequence[RouteGroup] | None = None,
    middleware: Sequence[MiddlewareFactory] | None = None,
    debug: bool = False,
    **extra: Any,
) -> Starlette:
    """Parapet's ASGI app, to mount at ``/parapet`` (see the module docstring of ``parapet.web``).

    ``spec_path`` is read when it exists (``None``: no spec); ``database_url`` defaults to the spec's
    ``database.url``, then ``$PARAPET_DATABASE_URL``, then ``.parapet/parapet.db``. A ``store`` given wins
    over the URL (its engine then sets the timeouts; an engine made here waits 5 s at most for a lock).
    ``extra`` keyword options are kept for the route groups (``settings.extra``): ``insecure_webhook=True``
    accepts deliveries without credentials (``parapet serve --insecure-local`` only); ``mcp_tokens``,
    ``mcp_token_verifier`` (the SDK's ``TokenVerifier``), ``mcp_allowed_hosts`` and ``mcp_allowed_origins``
    configure the MCP endpoint (``parapet.mcp.http``).
    """
    spec = _load_spec(spec_path)
    if store is None:
        url = database_url or (spec.database.url if spec is not None and spec.database is not None else None)
        resolved = resolve_url(url)
        # A pooled PostgreSQL connection may be dead after a server restart: ping it on checkout (SQLite has none)
        ping = not resolved.startswith("sqlite")
        store = Store(create_engine_for(resolved, busy_timeout_s=BUSY_TIMEOUT_S, pool_pre_ping=ping))
    settings = WebSettings(
        store=store,
        spec=spec,
        webhook_tokens=tuple(webhook_tokens) if webhook_tokens is not None else (),
        user_provider=user_provider,
        templates_dir=Path(templates_dir) if templates_dir is not None else None,
        extra=dict(extra),
    )
    registry.install_subscribers(spec)  # the webhook's intake and the UI's commands enqueue the parts' jobs
    routes = [route for group in (ROUTE_GROUPS if route_groups is None else route_groups) for route in group(settings)]
    stack = [mw for factory in (MIDDLEWARE if middleware is None else middleware) for mw in factory(settings)]
    app = Starlette(debug=debug, routes=routes, middleware=stack, lifespan=lifespan)
    app.state.parapet = settings
    return app


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Run what Parapet's app needs while it serves (the MCP endpoint's session manager).

    ``create_app``'s own lifespan; a host that mounts the app enters it in the host's lifespan::

        parapet_app = create_app()
        @asynccontextmanager
        async def host_lifespan(host):
            async with parapet.web.lifespan(parapet_app):
                yield
    """
    settings: WebSettings = app.state.parapet
    async with AsyncExitStack() as stack:
        for start in settings.lifespans:
            await stack.enter_async_context(start())
        yield


def settings_of(connection: HTTPConnection) -> WebSettings:
    """The settings of the Parapet app serving this request (also when mounted in a host)."""
    settings: WebSettings = connection.app.state.parapet
    return settings


def _load_spec(spec_path: str | Path | None) -> Spec | None:
    if spec_path is None:
        return None
    path = Path(spec_path)
    if not path.exists():
        return None
    from parapet.spec import load_spec

    return load_spec(path)
