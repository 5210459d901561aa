"""``POST /webhook``: Alertmanager's deliveries, applied to the store in one transaction each.

Answers (JSON bodies; Alertmanager retries only 5xx, and drops a 4xx notification for good, so nothing
transient is ever a 4xx):

    200  committed: the delivery's outcome (incidents opened, instances added, repeated, resolved)
    400  the body is not JSON, not a version-4 payload, or a field cannot be read (the body says which)
    401  missing or wrong credentials (bearer token, or basic auth whose password is a token)
    413  the body is over 8 MiB
    503  the database is unavailable or busy (with Retry-After); also any unexpected failure, so that
         Alertmanager retries rather than drops. Never 429, never 500.

Credentials: ``webhook_tokens`` given to ``create_app``, else the lines of the spec's
``alertmanager.webhook_token_file``, else of ``$PARAPET_WEBHOOK_TOKEN_FILE`` (the file ``parapet install``
told Alertmanager to send as ``credentials_file``). Up to two tokens are accepted at once, for rotation;
the file is re-read when it changes. Every comparison is constant-time and every token is compared.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from anyio import to_thread
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from parapet.alerts.correlation import Correlator
from parapet.alerts.intake import IngestResult, ingest
from parapet.alerts.payload import PayloadError, parse_body
from parapet.errors import ConfigError
from parapet.evidence.db import describe_error
from parapet.web.app import WebSettings

MAX_BODY: Final = 8 * 1024 * 1024
RETRY_AFTER_S: Final = 5
MAX_TOKENS: Final = 2
TOKEN_FILE_ENV: Final = "PARAPET_WEBHOOK_TOKEN_FILE"

log = logging.getLogger("parapet.web.webhook")


class TokenFileError(ConfigError):
    """The webhook's token file cannot be read or holds no usable token."""


def read_token_file(
    path: Path, *, what: str = "webhook", sender: str = "Alertmanager sends (its credentials_file)"
) -> tuple[str, ...]:
    """The tokens in a file: one per line, blank lines and ``#`` comments skipped, at most two. ``what`` names
    the file's user in messages (the webhook, MCP), ``sender`` who presents the token."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise TokenFileError(
            f"cannot read the {what} token file {path}: {reason}",
            hint=f"create it with the token {sender}, readable by this process",
        ) from None
    tokens = tuple(line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    if not tokens:
        raise TokenFileError(f"the {what} token file {path} holds no token", hint="write the token on one line")
    if len(tokens) > MAX_TOKENS:
        raise TokenFileError(
            f"the {what} token file {path} holds {len(tokens)} tokens; at most {MAX_TOKENS} are accepted",
            hint="keep the current token and, while rotating, the next one",
        )
    return tokens


@dataclass
class Credentials:
    """The accepted tokens: fixed ones, or a file re-read when its modification time or size changes."""

    fixed: tuple[str, ...] = ()
    path: Path | None = None
    what: str = "webhook"  # whose tokens, for messages
    _cache: tuple[tuple[int, int], tuple[str, ...]] | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: WebSettings) -> Credentials:
        if settings.webhook_tokens:
            return cls(fixed=settings.webhook_tokens)
        spec_file = settings.spec.alertmanager.webhook_token_file if settings.spec is not None else None
        env_file = os.environ.get(TOKEN_FILE_ENV)
        path = spec_file or (Path(env_file) if env_file else None)
        return cls(path=path)

    @property
    def configured(self) -> bool:
        return bool(self.fixed) or self.path is not None

    def tokens(self) -> tuple[str, ...]:
        if self.fixed or self.path is None:
            return self.fixed
        try:
            st = self.path.stat()
        except OSError:
            return read_token_file(self.path, what=self.what)  # raises with the reason
        stamp = (st.st_mtime_ns, st.st_size)
        if self._cache is None or self._cache[0] != stamp:
            self._cache = (stamp, read_token_file(self.path, what=self.what))
        return self._cache[1]

    def check(self, authorization: str | None) -> bool:
        """True when the Authorization header carries an accepted token (bearer, or basic's password)."""
        presented = _presented(authorization)
        return presented is not None and self.accepts(presented)

    def accepts(self, presented: str) -> bool:
        """True when ``presented`` is one of the tokens; every token is compared, each in constant time."""
        ok = False
        for token in self.tokens():
            ok |= hmac.compare_digest(presented.encode("utf-8"), token.encode("utf-8"))
        return ok


def _presented(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _user, sep, password = decoded.partition(":")
        return password if sep else None
    return None


def routes(settings: WebSettings) -> Sequence[BaseRoute]:
    endpoint = WebhookEndpoint(settings)
    return [Route("/webhook", endpoint, methods=["POST"])]


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


class WebhookEndpoint:
    """The ASGI endpoint, holding what it needs from the settings (credentials, correlation rules)."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.credentials = Credentials.from_settings(settings)
        self.correlator = Correlator.from_spec(settings.spec)
        self.insecure = bool(settings.extra.get("insecure_webhook", False))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
            return _too_large()
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                return _too_large()
            chunks.append(chunk)
        body = b"".join(chunks)
        store = self.settings.store

        def apply() -> IngestResult:  # one hop to a worker thread: parsing, then the transaction
            return ingest(store, parse_body(body), self.correlator)

        try:
            result = await to_thread.run_sync(apply)
        except PayloadError as exc:
            return _error(400, str(exc))
        except (SQLAlchemyError, ConfigError) as exc:
            reason = describe_error(exc, store.engine.url) if isinstance(exc, SQLAlchemyError) else exc.message
            log.warning("webhook delivery not applied (database unavailable or busy): %s", reason)
            return _error(
                503, f"the incident store is unavailable or busy: {reason}", **{"Retry-After": str(RETRY_AFTER_S)}
            )
        except Exception:
            log.exception("webhook delivery not applied")
            return _error(503, "the delivery could not be applied; retry", **{"Retry-After": str(RETRY_AFTER_S)})
        return JSONResponse({"status": "ok", "delivery": result.delivery_id, **result.summary()})

    def _authenticate(self, request: Request) -> Response | None:
        if self.insecure:
            return None
        if not self.credentials.configured:
            return _error(
                401,
                "the webhook has no credentials configured: set alertmanager.webhook_token_file in the spec "
                f"(or {TOKEN_FILE_ENV})",
                **{"WWW-Authenticate": 'Bearer realm="parapet"'},
            )
        try:
            accepted = self.credentials.check(request.headers.get("authorization"))
        except TokenFileError as exc:
            log.error("%s", exc.message)
            return _error(503, "the webhook's token file cannot be read", **{"Retry-After": str(RETRY_AFTER_S)})
        if not accepted:
            return _error(401, "missing or wrong credentials", **{"WWW-Authenticate": 'Bearer realm="parapet"'})
        return None


def _too_large() -> JSONResponse:
    return _error(413, f"the body is over {MAX_BODY // (1024 * 1024)} MiB")
