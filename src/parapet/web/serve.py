"""What ``parapet serve`` runs: Parapet's app mounted at ``/parapet`` (as in a host), the app's own lifespan
(the MCP endpoint's session manager) and the work engine (the background loops and every job kind,
``parapet.work``) in the server's lifespan, under uvicorn.

The rule: a server that anyone on the network can reach must authenticate. ``serve`` refuses to start
without webhook credentials (a token file) unless it listens on 127.0.0.1 with ``insecure_local``, which
opens the webhook (and, for the UI, makes every visitor a local admin) for a developer's own machine.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from parapet.alerts.worker import WorkerConfig, running_in_background
from parapet.errors import OptionError
from parapet.evidence.db import check_schema
from parapet.web.app import WebSettings, create_app, lifespan
from parapet.web.webhook import Credentials, read_token_file

MOUNT = "/parapet"


def is_loopback_only(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_auth(*, host: str, insecure_local: bool, credentials: Credentials) -> None:
    """Refuse what would serve an unauthenticated webhook beyond this machine (ConfigError, exit 3)."""
    if insecure_local and not is_loopback_only(host):
        raise OptionError(
            f"{{insecure_local}} serves without authentication, so only on 127.0.0.1, not on {host}",
            hint="drop {insecure_local} and give the webhook a token file ({webhook_token_file})",
            options=("insecure_local", "webhook_token_file"),
        )
    if insecure_local:
        return
    if not credentials.configured:
        raise OptionError(
            "parapet serve needs credentials for Alertmanager's webhook",
            hint="pass {webhook_token_file} (the file Alertmanager's credentials_file names), set "
            "alertmanager.webhook_token_file in the spec, or, on 127.0.0.1 only, {insecure_local}",
            options=("insecure_local", "webhook_token_file"),
        )
    if credentials.path is not None:
        read_token_file(credentials.path)  # unreadable or empty: refuse now, not at the first delivery


def server_app(
    *,
    spec_path: str | Path | None,
    database_url: str | None,
    webhook_tokens: tuple[str, ...] = (),
    host: str = "127.0.0.1",
    insecure_local: bool = False,
    run_worker: bool = True,
    **options: Any,
) -> Starlette:
    """The app ``parapet serve`` runs; raises ConfigError before anything listens when it must not start."""
    inner = create_app(
        spec_path=spec_path,
        database_url=database_url,
        webhook_tokens=webhook_tokens or None,
        insecure_webhook=insecure_local,
        insecure_local=insecure_local,
        **options,
    )
    settings: WebSettings = inner.state.parapet
    check_auth(host=host, insecure_local=insecure_local, credentials=Credentials.from_settings(settings))
    check_schema(settings.store.engine)

    @asynccontextmanager
    async def serving(_app: Starlette) -> AsyncIterator[None]:
        async with lifespan(inner):  # the mounted app's own (Starlette would not run it)
            if not run_worker:
                yield
                return
            config = WorkerConfig.from_spec(settings.spec, kind="serve")
            async with running_in_background(settings.store, config, spec=settings.spec):
                yield
            settings.store.engine.dispose()

    async def home(_request: Any) -> Response:
        return RedirectResponse(f"{MOUNT}/", status_code=307)

    return Starlette(routes=[Route("/", home), Mount(MOUNT, app=inner)], lifespan=serving)


def ui_sign_in(app: Starlette) -> bool:
    """True when the served UI can know who is asking (a users file or trusted proxies, by option or spec)."""
    from parapet.web.ui import authenticator

    mounted = next(r for r in app.routes if isinstance(r, Mount))
    settings: WebSettings = mounted.app.state.parapet  # type: ignore[attr-defined]
    auth = authenticator(settings)
    return auth.users_file is not None or auth.trusted_proxies is not None


def run(app: Starlette, *, host: str, port: int, log_level: str = "info") -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=False, server_header=False)
