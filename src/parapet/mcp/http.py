"""``/mcp`` in Parapet's web app: the MCP server over streamable HTTP, stateless, JSON responses, bearer tokens.

Every request goes through, in order:

1. the SDK's bearer authentication (``BearerAuthBackend`` over a ``TokenVerifier``) and its
   ``RequireAuthMiddleware`` with the scope ``parapet:read``: no token or a wrong one is 401 (with
   ``WWW-Authenticate``), a token without the scope 403. The default verifier accepts the lines of a token
   file (``mcp.token_file`` in the spec, else ``$PARAPET_MCP_TOKEN_FILE``; re-read when it changes, two
   tokens while rotating, compared in constant time) and grants ``parapet:read``; a host may pass its own
   verifier (OAuth introspection, JWTs) as ``create_app(mcp_token_verifier=...)``. Without any, every
   request is 401 and the SDK is not even imported.
2. the SDK's DNS-rebinding protection: a Host header other than loopback's or ``mcp.allowed_hosts`` is 421,
   an Origin other than theirs or ``mcp.allowed_origins`` is 403.
3. the SDK's ``StreamableHTTPSessionManager`` (stateless, JSON responses), serving the server of
   ``parapet.mcp.server`` over a read-only engine of the store's database.

The session manager needs a task group for as long as the app serves: ``create_app``'s lifespan runs it, and
so does ``parapet serve``. Starlette does not run the lifespan of a mounted app, so a host that mounts
``create_app()`` enters ``parapet.web.lifespan(parapet_app)`` in its own lifespan (docs/mcp.md); until it
does, the endpoint answers 503 saying so.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from parapet.errors import ConfigError
from parapet.evidence.db import create_engine_for
from parapet.evidence.store import Store
from parapet.web.app import BUSY_TIMEOUT_S, WebSettings
from parapet.web.webhook import Credentials, TokenFileError

if TYPE_CHECKING:
    from mcp.server.auth.provider import AccessToken, TokenVerifier
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    from parapet.mcp.reader import Reader

READ_SCOPE: Final = "parapet:read"
TOKEN_FILE_ENV: Final = "PARAPET_MCP_TOKEN_FILE"
PATH: Final = "/mcp"
LOOPBACK: Final = ("127.0.0.1", "localhost", "[::1]")
TOKEN_CLIENT: Final = "parapet-token-file"

log = logging.getLogger("parapet.mcp")


def credentials_of(settings: WebSettings) -> Credentials:
    """The MCP tokens: ``create_app(mcp_tokens=...)``, else the spec's ``mcp.token_file``, else the env file."""
    fixed = tuple(settings.extra.get("mcp_tokens") or ())
    if fixed:
        return Credentials(fixed=fixed, what="MCP")
    spec_file = settings.spec.mcp.token_file if settings.spec is not None else None
    env_file = os.environ.get(TOKEN_FILE_ENV)
    return Credentials(path=spec_file or (Path(env_file) if env_file else None), what="MCP")


class TokenFileVerifier:
    """The SDK's ``TokenVerifier`` over Parapet's token file: an accepted token may read (``parapet:read``)."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    async def verify_token(self, token: str) -> AccessToken | None:
        from mcp.server.auth.provider import AccessToken

        try:
            accepted = self.credentials.accepts(token)
        except TokenFileError as exc:
            log.error("%s", exc.message)
            return None
        return AccessToken(token=token, client_id=TOKEN_CLIENT, scopes=[READ_SCOPE]) if accepted else None


def allowed(hosts: Sequence[str], origins: Sequence[str]) -> tuple[list[str], list[str]]:
    """The Host and Origin values the endpoint answers: loopback's and the configured hosts' (any port)."""
    allowed_hosts: list[str] = []
    allowed_origins: list[str] = []
    for host in (*LOOPBACK, *hosts):
        allowed_hosts.append(host)
        has_port = host.rsplit("]", 1)[-1].count(":") == 1
        if not has_port:
            allowed_hosts.append(f"{host}:*")
        for scheme in ("http", "https"):
            allowed_origins.append(f"{scheme}://{host}")
            if not has_port:
                allowed_origins.append(f"{scheme}://{host}:*")
    allowed_origins.extend(origins)
    return allowed_hosts, allowed_origins


def _deny(status: int, message: str, hint: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message, "hint": hint}, status_code=status, headers=headers or None)


class MCPEndpoint:
    """The ASGI app at ``/mcp``; ``running()`` is what a lifespan enters (the SDK's session manager)."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.credentials = credentials_of(settings)
        given: TokenVerifier | None = settings.extra.get("mcp_token_verifier")
        self.verifier: TokenVerifier | None = given or (
            TokenFileVerifier(self.credentials) if self.credentials.configured else None
        )
        self.manager: StreamableHTTPSessionManager | None = None
        self._app: Any = None
        self._server: Any = None
        self.reader: Reader | None = None
        if self.verifier is not None:
            self._build()

    def _build(self) -> None:
        try:
            from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
            from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
            from starlette.middleware.authentication import AuthenticationMiddleware
        except ModuleNotFoundError:
            raise ConfigError(
                "the MCP endpoint has credentials configured but the mcp package is not installed",
                hint="pip install 'parapet[mcp]'",
            ) from None
        from parapet.mcp.server import build_server

        assert self.verifier is not None
        self.reader = self._reader()
        self._server = build_server(self.reader)
        app: Any = RequireAuthMiddleware(self._serve, [READ_SCOPE])
        app = AuthContextMiddleware(app)
        self._app = AuthenticationMiddleware(app, backend=BearerAuthBackend(self.verifier))

    def _reader(self) -> Reader:
        from parapet.mcp.reader import Reader

        settings = self.settings
        # No ping on checkout (the UI's engine pings): a tool call checks out a connection per read, and the
        # pings would double its round trips. A connection that died with the server fails one call (a tool
        # error); SQLAlchemy then drops every pooled connection, and the next call reconnects.
        url = settings.store.engine.url
        engine = create_engine_for(
            url.render_as_string(hide_password=False), read_only=True, busy_timeout_s=BUSY_TIMEOUT_S
        )
        store = Store(engine, clock=settings.store.clock)
        reader = Reader.for_spec(store, settings.spec, secrets=self._secrets())
        trace_url = settings.extra.get("trace_url")
        if trace_url:
            reader.trace_url = trace_url
        return reader

    def _secrets(self) -> tuple[str, ...]:
        """The tokens this app knows (MCP and webhook), masked wherever they would appear in an answer."""
        from parapet.web.webhook import Credentials as Webhook

        found: list[str] = []
        for credentials in (self.credentials, Webhook.from_settings(self.settings)):
            try:
                found.extend(credentials.tokens())
            except TokenFileError:
                continue
        return tuple(found)

    async def _serve(self, scope: Any, receive: Any, send: Any) -> None:
        manager = self.manager
        if manager is None:
            response = _deny(
                503,
                "Parapet's MCP endpoint is not running: the app's lifespan was not run",
                "a host that mounts create_app() enters parapet.web.lifespan(app) in its own lifespan (docs/mcp.md)",
            )
            await response(scope, receive, send)
            return
        await manager.handle_request(scope, receive, send)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            response = _deny(
                401,
                "the MCP endpoint has no credentials configured",
                f"set mcp.token_file in the spec (or {TOKEN_FILE_ENV}), then send Authorization: Bearer <token>",
                **{"WWW-Authenticate": 'Bearer realm="parapet"'},
            )
            await response(scope, receive, send)
            return
        await self._app(scope, receive, send)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the SDK's session manager (a fresh one each time: a manager runs once) while the app serves."""
        if self._server is None:
            yield
            return
        from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
        from mcp.server.transport_security import TransportSecuritySettings

        mcp = self.settings.spec.mcp if self.settings.spec is not None else None
        hosts = [*(mcp.allowed_hosts if mcp else ()), *(self.settings.extra.get("mcp_allowed_hosts") or ())]
        origins = [*(mcp.allowed_origins if mcp else ()), *(self.settings.extra.get("mcp_allowed_origins") or ())]
        allowed_hosts, allowed_origins = allowed(hosts, origins)
        manager = StreamableHTTPSessionManager(
            app=self._server,
            json_response=True,
            stateless=True,
            security_settings=TransportSecuritySettings(
                enable_dns_rebinding_protection=True, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins
            ),
        )
        async with manager.run():
            self.manager = manager
            try:
                yield
            finally:
                self.manager = None
                if self.reader is not None:
                    self.reader.store.engine.dispose()


def routes(settings: WebSettings) -> Sequence[BaseRoute]:
    """The MCP route group for ``create_app``; registers the endpoint's session manager as a lifespan."""
    endpoint = MCPEndpoint(settings)
    settings.lifespans.append(endpoint.running)
    return [Route(PATH, endpoint)]
