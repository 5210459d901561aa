"""Slack's interactivity endpoint: the Acknowledge and Resolve buttons of Parapet's Slack messages.

    POST /slack/interactions     the Slack app's Interactivity "Request URL"
                                 (https://parapet.example.com/parapet/slack/interactions)

Only there when a ``kind: slack`` target has ``buttons: true``. A request is believed only when Slack signed it:
``X-Slack-Signature`` is ``v0=`` and the hex HMAC-SHA256, keyed with the app's signing secret, of
``v0:{X-Slack-Request-Timestamp}:{raw body}``; the timestamp is at most 5 minutes from this clock (a captured
request cannot be replayed later) and the signatures are compared in constant time. Anything else is a 401
and nothing is read from the body.

Then the Slack user who pressed the button must map to a Parapet user: the target's ``users:`` (Slack user id
-> Parapet user name); when the UI has a users file, that user must be in it with a role that may
acknowledge and resolve (responder or admin). An unknown user is refused (403) and nothing changes. A known
user's press is one store command as that user (the same as the UI's form); the timeline entry it writes
updates the Slack message through the outbox. A press on an incident already in that state is a no-op (200).

CSRF does not apply: the request is authenticated by Slack's signature, not by a browser session.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from parapet.evidence.store import EvidenceError, Store
from parapet.notify.base import SecretUnavailable
from parapet.notify.secrets import SecretReader
from parapet.notify.slack import ACTION_ACKNOWLEDGE, ACTION_RESOLVE
from parapet.spec.model import NotifierSettings
from parapet.web.app import WebSettings
from parapet.web.identity import UsersFile

log = logging.getLogger("parapet.web.slack")

PATH: Final = "/slack/interactions"
WINDOW_S: Final = 300
MAX_BODY: Final = 1024 * 1024
COMMANDS: Final = {ACTION_ACKNOWLEDGE: ("acknowledge", "acknowledge"), ACTION_RESOLVE: ("resolve", "resolve")}


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature of a request: ``v0=`` and the hex HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def verified(secret: str, timestamp: str, body: bytes, sent: str, *, now: float) -> bool:
    """True when ``sent`` is the signature of (``timestamp``, ``body``) and the timestamp is within 5 minutes."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > WINDOW_S:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body).encode(), sent.encode())


@dataclass(frozen=True)
class Press:
    """A verified button press: which target's app signed it, who pressed, what, on which incident."""

    target: NotifierSettings
    slack_user: str
    action: str
    incident_id: int


class SlackInteractions:
    def __init__(self, settings: WebSettings, targets: Sequence[NotifierSettings], users_file: Path | None) -> None:
        self.store: Store = settings.store
        self.targets = tuple(targets)
        self.users = UsersFile(users_file) if users_file is not None else None

    async def endpoint(self, request: Request) -> Response:
        body = await _body(request)
        if body is None:
            return PlainTextResponse("request too large", status_code=413)
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        sent = request.headers.get("x-slack-signature", "")
        now = time.time()
        signed_by = [t for t in self.targets if self._verifies(t, timestamp, body, sent, now)]
        if not signed_by:
            return PlainTextResponse("invalid or expired Slack signature", status_code=401)
        press = _press(body, signed_by)
        if press is None:
            return PlainTextResponse("", status_code=200)  # another interaction of the app: nothing to do
        name = self._parapet_user(press)
        if name is None:
            log.warning("slack: refused %s by Slack user %s: no Parapet user may", press.action, press.slack_user)
            return PlainTextResponse("this Slack user is not a Parapet responder", status_code=403)
        method, _ = COMMANDS[press.action]
        try:
            await run_in_threadpool(getattr(self.store, method), press.incident_id, actor=name)
        except EvidenceError as exc:  # already in that state, or gone: nothing to do
            log.info("slack: %s on incident %s by %s: %s", method, press.incident_id, name, exc.message)
        return PlainTextResponse("", status_code=200)

    def _verifies(self, target: NotifierSettings, timestamp: str, body: bytes, sent: str, now: float) -> bool:
        try:
            secret = SecretReader(target).read("signing_secret")
        except SecretUnavailable as exc:
            log.warning("slack: %s", exc.message)
            return False
        return verified(secret, timestamp, body, sent, now=now)

    def _parapet_user(self, press: Press) -> str | None:
        mapping = press.target.option("users") or {}
        name = mapping.get(press.slack_user) if isinstance(mapping, dict) else None
        if not isinstance(name, str) or not name:
            return None
        if self.users is not None:
            user = self.users.lookup(name)
            if user is None or not user.can(COMMANDS[press.action][1]):
                return None
        return name


async def _body(request: Request) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _press(body: bytes, signed_by: Sequence[NotifierSettings]) -> Press | None:
    """The button press in a verified body (``payload=<json>``), when it is one of Parapet's buttons on a message
    of a target whose secret signed it."""
    try:
        payload: Any = json.loads(parse_qs(body.decode("utf-8")).get("payload", ["{}"])[0])
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    user, actions = payload.get("user"), payload.get("actions")
    user = user if isinstance(user, dict) else {}
    actions = actions if isinstance(actions, list) else []
    for action in actions:
        if not isinstance(action, dict) or action.get("action_id") not in COMMANDS:
            continue
        target_name, _, incident = str(action.get("value", "")).rpartition(":")
        target = next((t for t in signed_by if t.name == target_name), None)
        if target is None or not incident.isdigit():
            continue
        return Press(target, str(user.get("id", "")), str(action["action_id"]), int(incident))
    return None


def routes(settings: WebSettings) -> Sequence[BaseRoute]:
    """The route group for ``create_app``: the endpoint when some Slack target has buttons, else nothing."""
    spec = settings.spec
    targets = [t for t in (spec.notifiers if spec else ()) if t.kind == "slack" and t.option("buttons")]
    if spec is None or not targets:
        return []
    users_file = settings.extra.get("users_file") or spec.ui.users_file
    handler = SlackInteractions(settings, targets, Path(users_file) if users_file else None)
    return [Route(PATH, handler.endpoint, methods=["POST"])]
