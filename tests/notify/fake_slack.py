"""A fake Slack Web API on loopback, for the real ``slack_sdk.WebClient`` (pointed at it through ``base_url``).

It answers chat.postMessage and chat.update as Slack does (``{"ok": true, "channel", "ts", "message"}``, or
``{"ok": false, "error": ...}``), keeps the messages it holds, checks the bearer token and Slack's Block Kit
limits (50 blocks, 3,000 characters a section, 150 a header, 10 fields; ``invalid_blocks`` otherwise), and
records every request. On cue it answers the next call of a method with 429 and ``Retry-After``
(``rate_limit``), or with an error such as ``message_not_found`` (``fail``); ``forget`` deletes a message as
a user would.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Request:
    method: str  # chat.postMessage, chat.update
    headers: dict[str, str]
    body: dict[str, Any]
    status: int = 200
    answer: dict[str, Any] = field(default_factory=dict)


class FakeSlack:
    def __init__(self, token: str, channel_id: str = "C0PARAPET") -> None:
        self.token = token
        self.channel_id = channel_id
        self.requests: list[Request] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._cues: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = {}
        self._lock = threading.Lock()
        self._ts = 1_765_000_000
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    # -- cues -------------------------------------------------------------------------------------

    def rate_limit(self, method: str, retry_after: int = 1) -> None:
        """The next call of ``method`` gets 429 with ``Retry-After``."""
        self._cue(method, 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})

    def fail(self, method: str, error: str) -> None:
        """The next call of ``method`` gets ``{"ok": false, "error": error}``."""
        self._cue(method, 200, {"ok": False, "error": error}, {})

    def forget(self, channel: str, ts: str) -> None:
        with self._lock:
            self.messages.pop((channel, ts), None)

    def _cue(self, method: str, status: int, answer: dict[str, Any], headers: dict[str, str]) -> None:
        with self._lock:
            self._cues.setdefault(method, []).append((status, answer, headers))

    # -- what happened ----------------------------------------------------------------------------

    def calls(self, *methods: str) -> list[Request]:
        """The requests answered ok (of ``methods``, or all)."""
        return [r for r in self.requests if r.answer.get("ok") and (not methods or r.method in methods)]

    # -- the API ----------------------------------------------------------------------------------

    def answer(
        self, method: str, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            cues = self._cues.get(method)
            if cues:
                return cues.pop(0)
            if headers.get("authorization") != f"Bearer {self.token}":
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            problem = _block_problem(body)
            if problem:
                return 200, {"ok": False, "error": "invalid_blocks", "errors": [problem]}, {}
            if method == "chat.postMessage":
                if not body.get("channel"):
                    return 200, {"ok": False, "error": "channel_not_found"}, {}
                self._ts += 1
                ts = f"{self._ts}.000100"
                message = {"text": body.get("text"), "blocks": body.get("blocks"), "ts": ts}
                self.messages[(self.channel_id, ts)] = message
                return 200, {"ok": True, "channel": self.channel_id, "ts": ts, "message": message}, {}
            if method == "chat.update":
                key = (str(body.get("channel")), str(body.get("ts")))
                if key not in self.messages:
                    return 200, {"ok": False, "error": "message_not_found"}, {}
                message = {"text": body.get("text"), "blocks": body.get("blocks"), "ts": key[1]}
                self.messages[key] = message
                return 200, {"ok": True, "channel": key[0], "ts": key[1], "text": body.get("text")}, {}
            return 404, {"ok": False, "error": "unknown_method"}, {}

    @contextmanager
    def running(self) -> Iterator[FakeSlack]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if (self.headers.get("Content-Type") or "").startswith("application/json"):
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                    if isinstance(body.get("blocks"), str):
                        body["blocks"] = json.loads(body["blocks"])
                method = self.path.rsplit("/", 1)[-1]
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, answer, extra = fake.answer(method, headers, body)
                fake.requests.append(Request(method, headers, body, status, answer))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join(5)


def _block_problem(body: dict[str, Any]) -> str | None:
    """What Slack would refuse in the message's blocks, by its documented limits, or None."""
    blocks = body.get("blocks")
    if blocks is None:
        return None if body.get("text") else "no text and no blocks"
    if not isinstance(blocks, list) or len(blocks) > 50:
        return "more than 50 blocks"
    for i, block in enumerate(blocks):
        kind = block.get("type")
        text = (block.get("text") or {}).get("text", "")
        if kind == "header" and len(text) > 150:
            return f"block {i}: header text over 150"
        if kind == "section":
            if len(text) > 3000:
                return f"block {i}: section text over 3000"
            fields = block.get("fields") or []
            if len(fields) > 10 or any(len(f.get("text", "")) > 2000 for f in fields):
                return f"block {i}: fields over the limits"
            if not text and not fields:
                return f"block {i}: an empty section"
        if kind == "context" and len(block.get("elements") or []) > 10:
            return f"block {i}: over 10 context elements"
        if kind == "actions" and len(block.get("elements") or []) > 25:
            return f"block {i}: over 25 actions"
    return None
