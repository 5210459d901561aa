"""The operator UI's defences, each one small job.

    SessionMiddleware          a signed (itsdangerous), HttpOnly, SameSite=Lax cookie holding the session:
                               the signed-in user, the CSRF token, a one-shot flash message
    SecurityHeadersMiddleware  a strict Content-Security-Policy (no inline script or style: CSS and JS are
                               static files), nosniff, no framing, no referrer outside, no caching of pages
    session_secret(…)          the signing key: explicit, $PARAPET_SESSION_SECRET, or .parapet/session-secret
    csrf_token(session)        the session's token, created on first use; every form carries it
    origin_allowed(request)    a POST's Origin must be this site (or an allowed origin); without Origin, its
                               Sec-Fetch-Site must be same-origin; a client that sends neither (curl) still
                               needs the token
    read_form(request)         the form of a POST that passed both checks, or None: the caller answers 403

The cookie's path is the app's mount point, so a host at ``/`` never receives Parapet's cookie.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from itsdangerous import BadSignature, TimestampSigner
from starlette.datastructures import FormData, MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parapet.errors import ConfigError

COOKIE_NAME: Final = "parapet_session"
# Parapet's session lives under its own key of the ASGI scope, never ``scope["session"]``: a host's own
# session (Starlette's SessionMiddleware) stays visible to the host's user provider.
SESSION_SCOPE_KEY: Final = "parapet.session"
SESSION_SECRET_ENV: Final = "PARAPET_SESSION_SECRET"
SESSION_MAX_AGE_S: Final = 12 * 3600
CSRF_FIELD: Final = "csrf_token"
FORM_MAX_FIELDS: Final = 20
FORM_MAX_PART: Final = 64 * 1024

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
SECURITY_HEADERS: Final = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
)


class SessionMiddleware:
    """Starlette's session idea with the cookie scoped to the mount point and the flags always set; the session
    is ``session_of(request)``, apart from any session of the host."""

    def __init__(
        self, app: ASGIApp, *, secret: str | bytes, max_age: int = SESSION_MAX_AGE_S, https_only: bool | None = None
    ) -> None:
        self.app = app
        self.signer = TimestampSigner(secret, salt="parapet.session")
        self.max_age = max_age
        self.https_only = https_only  # None: Secure when the request itself came over https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        initial: dict[str, Any] = {}
        raw = connection.cookies.get(COOKIE_NAME)
        if raw:
            try:
                data = self.signer.unsign(raw.encode(), max_age=self.max_age)
                loaded = json.loads(base64.b64decode(data))
                initial = loaded if isinstance(loaded, dict) else {}
            except (BadSignature, ValueError):
                initial = {}
        scope[SESSION_SCOPE_KEY] = dict(initial)
        path = scope.get("root_path") or "/"
        secure = self.https_only if self.https_only is not None else scope.get("scheme") == "https"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                session = scope[SESSION_SCOPE_KEY]
                if session != initial:
                    headers = MutableHeaders(scope=message)
                    if session:
                        value = self.signer.sign(base64.b64encode(json.dumps(session).encode())).decode()
                        attrs = f"Max-Age={self.max_age}"
                    else:
                        value, attrs = "", "Max-Age=0"
                    flags = "; Secure" if secure else ""
                    headers.append(
                        "set-cookie", f"{COOKIE_NAME}={value}; Path={path}; {attrs}; HttpOnly; SameSite=Lax{flags}"
                    )
            await send(message)

        await self.app(scope, receive, send_with_cookie)


class SecurityHeadersMiddleware:
    """Adds the CSP and friends to every response; pages (not static files) are never cached."""

    def __init__(self, app: ASGIApp, *, static_prefix: str = "/static/") -> None:
        self.app = app
        self.static_prefix = static_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        relative = scope["path"][len(scope.get("root_path", "")) :]
        static = relative.startswith(self.static_prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers[name] = value
                if not static:
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def session_of(connection: HTTPConnection) -> dict[str, Any]:
    """Parapet's session of this request (empty outside SessionMiddleware)."""
    session: dict[str, Any] = connection.scope.setdefault(SESSION_SCOPE_KEY, {})
    return session


def session_secret(explicit: str | None = None, root: Path | None = None) -> str:
    """The key that signs sessions: ``explicit``, else ``$PARAPET_SESSION_SECRET``, else the file
    ``.parapet/session-secret`` under ``root`` (created 0600 on first use, so every process of one host
    shares it and sessions survive a restart)."""
    if explicit:
        return explicit
    env = os.environ.get(SESSION_SECRET_ENV)
    if env:
        return env
    path = (root or Path.cwd()) / ".parapet" / "session-secret"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(secrets.token_urlsafe(48) + "\n")
        value = path.read_text(encoding="utf-8").strip()
    except FileExistsError:
        value = path.read_text(encoding="utf-8").strip()  # another process created it meanwhile
    except OSError as exc:
        raise ConfigError(
            f"cannot create or read the session secret {path}: {exc.strerror}",
            hint=f"set {SESSION_SECRET_ENV}, or make {path.parent} writable",
        ) from None
    if len(value) < 32:
        raise ConfigError(f"the session secret in {path} is too short", hint="delete the file; it is recreated")
    return value


def csrf_token(session: dict[str, Any]) -> str:
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _own_netloc(request: Request) -> str:
    return request.headers.get("host", "").lower()


def origin_allowed(request: Request, allowed_origins: Sequence[str] = ()) -> bool:
    """Origin (when sent) names this site or an allowed origin; else Sec-Fetch-Site (when sent) is same-origin."""
    origin = request.headers.get("origin")
    if origin is not None:
        if origin.strip().lower() in {o.rstrip("/").lower() for o in allowed_origins}:
            return True
        parts = urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null" (sandboxed or opaque origins) and anything odd
        return parts.netloc.lower() == _own_netloc(request)
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    return True


async def read_form(request: Request, allowed_origins: Sequence[str] = ()) -> FormData | None:
    """The form, when the POST came from this site and carries the session's CSRF token; else None."""
    if not origin_allowed(request, allowed_origins):
        return None
    expected = session_of(request).get("csrf")
    if not isinstance(expected, str) or not expected:
        return None
    form = await request.form(max_files=0, max_fields=FORM_MAX_FIELDS, max_part_size=FORM_MAX_PART)
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        return None
    return form
