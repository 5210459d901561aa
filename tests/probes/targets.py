"""What the probes probe: a small real HTTP server (a thread, loopback) that counts its hits, and callables."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.hits.append((self.path, time.time()))  # type: ignore[attr-defined]
        if self.path.startswith("/slow"):
            time.sleep(5)
        status, body = {"/broken": (500, b"oops"), "/other": (200, b"something else")}.get(self.path, (200, b"ok"))
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the probe gave up (timeout)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def target() -> Iterator[tuple[str, list[tuple[str, float]]]]:
    """A server on a free loopback port: (base URL, the list of (path, time) of its hits)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.hits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.hits  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def passes() -> None:
    pass


def says_no() -> bool:
    return False


def asserts() -> None:
    raise AssertionError("the basket is empty")


def raises() -> None:
    raise ConnectionRefusedError("staging is down")


def hangs() -> None:
    time.sleep(3)


async def hangs_async() -> None:
    await asyncio.sleep(30)
