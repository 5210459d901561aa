"""``GET /healthz``: 200 when the store answers a trivial query, 503 otherwise (for probes and load balancers)."""

from __future__ import annotations

from collections.abc import Sequence

from anyio import to_thread
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from parapet.web.app import WebSettings, settings_of


def routes(settings: WebSettings) -> Sequence[BaseRoute]:
    return [Route("/healthz", healthz, methods=["GET"])]


async def healthz(request: Request) -> Response:
    store = settings_of(request).store

    def ping() -> None:
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    try:
        await to_thread.run_sync(ping)
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok"})
