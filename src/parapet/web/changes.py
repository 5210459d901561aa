"""``POST /changes`` (deploys and flag changes from CI or a flag service) and ``GET /metrics`` (Parapet's own).

``POST /changes`` takes one JSON object, at most 64 KiB:

    {"kind": "deploy", "service": "shop", "version": "1.4.2", "actor": "ci", "url": "https://ci/run/81"}
    {"kind": "flag_change", "flags": ["new-checkout"], "provider": "flagd", "service": "shop"}

and answers 201 ``{"id": …}``; 400 names the field that is wrong; 401 without an accepted bearer token (the
lines of ``changes.token_file``, else the webhook's tokens: the same ``Credentials`` as the webhook, rotation
included); 503 when the store is down. No cookie and no CSRF token: it is a machine endpoint, authenticated by
its bearer token alone, like the webhook.

``GET /metrics``: this process's registry (the probe results it ran) and the change gauge read from the store
(``parapet.changes.metrics``), OpenMetrics when the scraper asks for it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from anyio import to_thread
from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from parapet.changes import DEPLOY, FLAG_CHANGE, ChangeError, record_deploy, record_flag_change
from parapet.changes.metrics import ChangesCollector
from parapet.metrics.exposition import render_exposition
from parapet.metrics.multiprocess import scrape_registry
from parapet.web.app import WebSettings
from parapet.web.webhook import Credentials, TokenFileError

MAX_BODY: Final = 64 * 1024
log = logging.getLogger("parapet.web.changes")


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def credentials(settings: WebSettings) -> Credentials:
    """``changes.token_file`` when the spec names one, else the webhook's credentials."""
    token_file = settings.spec.changes.token_file if settings.spec is not None else None
    return Credentials(path=token_file) if token_file is not None else Credentials.from_settings(settings)


class ChangesEndpoint:
    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.credentials = credentials(settings)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        challenge = {"WWW-Authenticate": 'Bearer realm="parapet"'}
        if not self.credentials.configured:
            return _error(401, "no token is configured for changes: set changes.token_file in the spec", **challenge)
        try:
            if not self.credentials.check(request.headers.get("authorization")):
                return _error(401, "missing or wrong credentials", **challenge)
        except TokenFileError as exc:
            log.error("%s", exc.message)
            return _error(503, "the token file cannot be read", **{"Retry-After": "5"})
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return _error(413, "the body is over 64 KiB")
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _error(400, "the body is not JSON")
        if not isinstance(doc, dict):
            return _error(400, "the body must be a JSON object")
        try:
            ident = await to_thread.run_sync(self._record, doc)
        except ChangeError as exc:
            return _error(400, exc.message)
        except SQLAlchemyError:
            log.warning("a change was not recorded: the store is unavailable", exc_info=True)
            return _error(503, "the incident store is unavailable; retry", **{"Retry-After": "5"})
        return JSONResponse({"id": ident}, status_code=201)

    def _record(self, doc: dict[str, Any]) -> int:
        store = self.settings.store
        kind = doc.get("kind", DEPLOY)
        at = _when(doc.get("at"))
        if kind == DEPLOY:
            return record_deploy(
                store,
                service=doc.get("service"),  # type: ignore[arg-type]  # checked by record_deploy
                version=doc.get("version"),  # type: ignore[arg-type]
                actor=doc.get("actor"),
                url=doc.get("url"),
                at=at,
            )
        if kind == FLAG_CHANGE:
            flags = doc.get("flags")
            if flags is not None and not (isinstance(flags, list) and all(isinstance(f, str) for f in flags)):
                raise ChangeError("flags must be a list of flag keys", hint='e.g. "flags": ["new-checkout"]')
            return record_flag_change(
                store,
                flags=flags,
                provider=doc.get("provider"),
                service=doc.get("service"),
                actor=doc.get("actor"),
                message=doc.get("message") if isinstance(doc.get("message"), str) else None,
                at=at,
            )
        raise ChangeError(f"unknown kind {str(kind)[:40]!r}", hint=f"use {DEPLOY} or {FLAG_CHANGE}")


def _when(value: object) -> datetime | None:
    """An ISO 8601 time with its offset (when the change happened, if not now)."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise ChangeError("at is not an ISO 8601 time with an offset", hint="e.g. 2026-12-06T19:30:00Z")
    return when


class _Both(Collector):
    """The process's registry (aggregated in multiprocess mode) and the change gauge, as one source."""

    def __init__(self, settings: WebSettings) -> None:
        self.changes = ChangesCollector(settings.store)

    def collect(self) -> Sequence[Metric]:
        return [*scrape_registry(REGISTRY).collect(), *self.changes.collect()]


def routes(settings: WebSettings) -> Sequence[BaseRoute]:
    source = _Both(settings)

    async def serve_metrics(request: Request) -> Response:
        accept = request.headers.get("accept")
        body, content_type = await to_thread.run_sync(lambda: render_exposition(source, accept))
        return Response(body, media_type=content_type)

    return [
        Route("/changes", ChangesEndpoint(settings), methods=["POST"]),
        Route("/metrics", serve_metrics, methods=["GET"]),
    ]
