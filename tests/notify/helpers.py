"""What the notifier tests share: an incident to announce, and a real HTTP receiver on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from parapet.evidence.store import Incident
from parapet.notify.base import Notification

OPENED = datetime(2026, 12, 6, 19, 0, tzinfo=UTC)
CANARY = "canary-7f3a9c1e5b"  # a secret's value: must appear nowhere but on the wire


def incident(**changes: Any) -> Incident:
    base = Incident(
        id=12,
        correlation_key="checkout/availability",
        fingerprint="a1b2c3d4e5f60718",
        alert_name="CheckoutAvailabilityErrorBudgetBurn",
        service="checkout",
        slo="availability",
        severity="critical",
        severity_rank=3,
        state="open",
        title="Checkout availability is burning its error budget 14x",
        summary="5xx ratio 2.1% over 5m (objective 99.9%)",
        labels={"env": "prod", "region": "eu-west-1"},
        annotations={"description": "HTTP 5xx on /checkout"},
        runbook_url="https://runbooks.example.com/checkout",
        trace_id=None,
        opened_at=OPENED,
        opened_by="system:alertmanager",
        acknowledged_at=None,
        acknowledged_by=None,
        resolved_at=None,
        resolved_by=None,
        last_seen_at=OPENED,
        occurrence_count=1,
        updated_at=OPENED,
        version=1,
    )
    return replace(base, **changes)


def notification(**changes: Any) -> Notification:
    """A notification of the test incident's opening to target ``ops``, with ``changes``."""
    base = Notification(
        incident=incident(), event="opened", target="ops", url="https://parapet.example.com/parapet/incidents/12"
    )
    return replace(base, **changes)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records every POST and answers the next scripted status (then 202)."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    answer_headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    echo: bool = False  # an error answer quotes the request's path (as some services quote the URL they got)


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            state.requests.append(Received(self.path, dict(self.headers.items()), body))
            if state.delay:
                stop.wait(state.delay)
            status = state.statuses.pop(0) if state.statuses else 202
            self.send_response(status)
            for name, value in state.answer_headers.items():
                self.send_header(name, value)
            answer = b"" if status < 300 else f"error {status}{' for ' + self.path if state.echo else ''}".encode()
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
