"""The audit sinks against real receivers on this machine: a file, syslog servers on UDP, TCP and a Unix
socket, an HTTP server; errors name the sink and never its secret."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from multiprocessing import Process
from pathlib import Path
from typing import Any

import pytest

from parapet.audit import build_sink, secret_problem
from parapet.audit.events import MAX_DATA_BYTES, AuditEvent
from parapet.audit.sinks import HttpSink, JsonLinesSink, SinkUnavailable, SyslogSink, shown_url
from parapet.spec.model import AuditSinkSettings

CANARY = "canary-7f3a9c-secret"


def event(n: int = 1, **data: Any) -> AuditEvent:
    return AuditEvent(
        id=f"parapet:timeline:{n}",
        at=datetime(2026, 12, 6, 19, 30, tzinfo=UTC),
        actor="alice",
        action="acknowledged",
        service="shop",
        incident_id=42,
        message="on it",
        data=data,
    )


def test_jsonl_appends_one_line_per_event(tmp_path: Path) -> None:
    sink = JsonLinesSink("file", tmp_path / "logs" / "audit.jsonl")
    sink.send(event(1))
    sink.send(event(2, note="x"))
    lines = (tmp_path / "logs" / "audit.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["parapet:timeline:1", "parapet:timeline:2"]
    doc = json.loads(lines[1])
    assert doc["actor"] == "alice" and doc["data"] == {"note": "x"} and doc["schema"] == 1


def _append_many(path: str, start: int) -> None:
    sink = JsonLinesSink("file", Path(path))
    for n in range(start, start + 200):
        sink.send(event(n, blob="y" * 3000))  # lines longer than PIPE_BUF: only the lock keeps them whole


def test_jsonl_from_several_processes_never_interleaves(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    procs = [Process(target=_append_many, args=(str(path), k * 1000)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    lines = path.read_text().splitlines()
    assert len(lines) == 800
    assert len({json.loads(line)["id"] for line in lines}) == 800  # every line parses: none torn


def test_jsonl_unwritable_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a folder should be")
    with pytest.raises(SinkUnavailable, match="audit sink file: cannot open"):
        JsonLinesSink("file", tmp_path / "blocker" / "audit.jsonl").send(event())


def test_oversized_data_is_cut_but_keeps_the_id() -> None:
    doc = event(9, blob="z" * (MAX_DATA_BYTES * 2)).to_json()
    assert doc["id"] == "parapet:timeline:9" and doc["data"]["truncated"] is True
    assert len(json.dumps(doc)) < MAX_DATA_BYTES


class _Udp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.server.got.append(self.request[0])  # type: ignore[attr-defined]


class _Tcp(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        data = self.rfile.read()
        self.server.got.append(data)  # type: ignore[attr-defined]


def _serve(server: socketserver.BaseServer) -> Iterator[socketserver.BaseServer]:
    server.got = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def udp() -> Iterator[socketserver.BaseServer]:
    yield from _serve(socketserver.UDPServer(("127.0.0.1", 0), _Udp))


@pytest.fixture
def tcp() -> Iterator[socketserver.BaseServer]:
    yield from _serve(socketserver.TCPServer(("127.0.0.1", 0), _Tcp))


def _rfc5424(message: bytes) -> tuple[str, dict[str, Any]]:
    text = message.decode()
    head, _, body = text.partition("] ")
    return head + "]", json.loads(body)


def test_syslog_udp_is_rfc5424(udp: socketserver.BaseServer) -> None:
    port = udp.server_address[1]  # type: ignore[index]
    SyslogSink("syslog", f"udp://127.0.0.1:{port}", facility="local3").send(event(5))
    _wait(lambda: udp.got)  # type: ignore[attr-defined]
    head, body = _rfc5424(udp.got[0])  # type: ignore[attr-defined]
    assert head.startswith("<157>1 2026-12-06T19:30:00+00:00 ")  # local3 (19) * 8 + notice (5)
    assert " parapet " in head and '[parapet@32473 id="parapet:timeline:5" action="acknowledged"]' in head
    assert body["id"] == "parapet:timeline:5"


def test_syslog_tcp_uses_octet_counting(tcp: socketserver.BaseServer) -> None:
    port = tcp.server_address[1]  # type: ignore[index]
    SyslogSink("syslog", f"tcp://127.0.0.1:{port}").send(event(6))
    _wait(lambda: tcp.got)  # type: ignore[attr-defined]
    framed: bytes = tcp.got[0]  # type: ignore[attr-defined]
    length, _, message = framed.partition(b" ")
    assert int(length) == len(message)
    assert _rfc5424(message)[1]["id"] == "parapet:timeline:6"


def test_syslog_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "log.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(5)
        SyslogSink("syslog", f"unix://{path}").send(event(7))
        assert _rfc5424(server.recv(65_536))[1]["id"] == "parapet:timeline:7"


def test_syslog_down_is_unavailable(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SinkUnavailable, match=f"audit sink syslog: syslog at tcp://127.0.0.1:{port}"):
        SyslogSink("syslog", f"tcp://127.0.0.1:{port}", timeout=1).send(event())
    with pytest.raises(SinkUnavailable):
        SyslogSink("syslog", f"unix://{tmp_path / 'nothing.sock'}").send(event())


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.got.append((dict(self.headers), json.loads(body)))  # type: ignore[attr-defined]
        status = self.server.status  # type: ignore[attr-defined]
        self.send_response(status)
        if status == 503:
            self.send_header("Retry-After", "7")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    server.got = []  # type: ignore[attr-defined]
    server.status = 204  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_http_posts_with_idempotency_key_and_token(receiver: HTTPServer) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/ingest"
    HttpSink("siem", url, token=CANARY, headers={"X-Tenant": "ops"}).send(event(8))
    headers, body = receiver.got[0]  # type: ignore[attr-defined]
    assert headers["Idempotency-Key"] == "parapet:timeline:8" and body["id"] == "parapet:timeline:8"
    assert headers["Authorization"] == f"Bearer {CANARY}" and headers["X-Tenant"] == "ops"


def test_http_refusal_is_unavailable_with_retry_after_and_no_secret(receiver: HTTPServer) -> None:
    receiver.status = 503  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{receiver.server_address[1]}/ingest?sig={CANARY}"
    with pytest.raises(SinkUnavailable) as caught:
        HttpSink("siem", url, token=CANARY).send(event())
    assert "answered 503" in caught.value.message and CANARY not in caught.value.message
    assert caught.value.retry_after is not None and caught.value.retry_after.total_seconds() == 7
    assert shown_url(f"https://u:{CANARY}@h.example:8443/p?sig={CANARY}") == "https://h.example:8443/p"


def test_http_secret_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: HTTPServer) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/in?sig={CANARY}"
    settings = AuditSinkSettings(name="siem", kind="http", url_env="AUDIT_URL", token_file=tmp_path / "token")
    assert secret_problem(settings) == "audit sink siem: environment variable AUDIT_URL (its URL) is not set"
    with pytest.raises(SinkUnavailable, match="AUDIT_URL"):
        build_sink(settings)
    monkeypatch.setenv("AUDIT_URL", url)
    problem = secret_problem(settings)
    assert problem is not None and "token" in problem and CANARY not in problem
    (tmp_path / "token").write_text(CANARY + "\n")
    assert secret_problem(settings) is None
    build_sink(settings).send(event(10))
    headers, _ = receiver.got[0]  # type: ignore[attr-defined]
    assert headers["Authorization"] == f"Bearer {CANARY}"
    assert CANARY not in repr(build_sink(settings))


def _wait(check: Any, timeout: float = 5) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("nothing arrived")
        time.sleep(0.02)
