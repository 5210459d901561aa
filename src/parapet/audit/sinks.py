"""Audit sinks: where every operator and system action is mirrored.

    jsonl    append one line per event to a file (``fcntl.flock`` around each write, so several processes on
             one host never interleave; flushed and fsync'd before the delivery counts as done)
    syslog   RFC 5424 messages over UDP, TCP (octet-counted framing, RFC 6587) or a Unix socket
             (``unix:///dev/log``); structured data carries the event id, the MSG is the event's JSON
    http     POST the event's JSON; ``Idempotency-Key`` is the event id; a bearer token from an environment
             variable or a file; 2xx is delivered, anything else (or no answer) is retried

A sink raises ``SinkUnavailable`` when it could not take the event; the caller (the work engine's
``audit_sink`` job) retries it later, so a sink that is down loses nothing. Secrets (the token, a URL's
query or user info) never appear in an error.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Final, Protocol
from urllib.parse import urlsplit, urlunsplit

from parapet.audit.events import AuditEvent

SYSLOG_FACILITIES: Final = {
    "user": 1,
    "daemon": 3,
    "auth": 4,
    "authpriv": 10,
    "local0": 16,
    "local1": 17,
    "local2": 18,
    "local3": 19,
    "local4": 20,
    "local5": 21,
    "local6": 22,
    "local7": 23,
}
SYSLOG_NOTICE: Final = 5
# Private Enterprise Number placeholder for structured data (RFC 5424 section 7.2.2 asks for one; 32473 is
# the number IANA reserves for documentation examples).
SD_ID: Final = "parapet@32473"
UDP_MAX: Final = 8_192  # bytes of one datagram; longer events are cut to their id and action


class SinkUnavailable(Exception):
    """The sink did not take the event; ``retry_after`` when it said when to come back."""

    def __init__(self, message: str, *, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class Sink(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, event: AuditEvent) -> None: ...


@dataclass(frozen=True)
class JsonLinesSink:
    name: str
    path: Path

    def send(self, event: AuditEvent) -> None:
        line = (event.line() + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            raise SinkUnavailable(f"audit sink {self.name}: cannot open {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise SinkUnavailable(f"audit sink {self.name}: short write to {self.path}")
                os.fsync(fd)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError as exc:
            raise SinkUnavailable(f"audit sink {self.name}: cannot write {self.path}: {exc.strerror}") from None
        finally:
            os.close(fd)


@dataclass(frozen=True)
class SyslogSink:
    name: str
    address: str  # udp://host:port, tcp://host:port, unix:///dev/log
    facility: str = "local0"
    app_name: str = "parapet"
    timeout: float = 5.0

    def message(self, event: AuditEvent) -> bytes:
        pri = SYSLOG_FACILITIES[self.facility] * 8 + SYSLOG_NOTICE
        host = (socket.gethostname() or "-")[:255]
        sd = f'[{SD_ID} id="{_sd_escape(event.id)}" action="{_sd_escape(event.action)}"]'
        body = event.line()
        head = f"<{pri}>1 {event.at.isoformat()} {host} {self.app_name} {os.getpid()} audit {sd} "
        encoded = (head + body).encode("utf-8")
        if self.address.startswith("udp://") and len(encoded) > UDP_MAX:
            short = json.dumps({"id": event.id, "action": event.action, "truncated": True})
            encoded = (head + short).encode("utf-8")
        return encoded

    def send(self, event: AuditEvent) -> None:
        payload = self.message(event)
        scheme, _, rest = self.address.partition("://")
        try:
            if scheme == "unix":
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                    sock.settimeout(self.timeout)
                    sock.connect(rest)
                    sock.send(payload)
                return
            host, port = _host_port(rest)
            if scheme == "udp":
                with socket.socket(_family(host), socket.SOCK_DGRAM) as sock:
                    sock.settimeout(self.timeout)
                    sock.sendto(payload, (host, port))
                return
            with socket.create_connection((host, port), timeout=self.timeout) as sock:
                sock.sendall(f"{len(payload)} ".encode("ascii") + payload)  # RFC 6587 octet counting
        except OSError as exc:
            raise SinkUnavailable(f"audit sink {self.name}: syslog at {self.address}: {exc}") from None


@dataclass(frozen=True)
class HttpSink:
    name: str
    url: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 10.0

    def send(self, event: AuditEvent) -> None:
        body = event.line().encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": event.id,
            "User-Agent": "parapet-audit",
            **self.headers,
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        where = shown_url(self.url)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read(65_536)
        except urllib.error.HTTPError as exc:
            retry = _retry_after(exc.headers.get("Retry-After")) if exc.headers else None
            exc.close()
            raise SinkUnavailable(f"audit sink {self.name}: {where} answered {exc.code}", retry_after=retry) from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SinkUnavailable(f"audit sink {self.name}: {where} unreachable: {reason}") from None


def shown_url(url: str) -> str:
    """The URL as it may appear in a log line: scheme, host, port and path; no user info, no query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _sd_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _host_port(rest: str) -> tuple[str, int]:
    host, _, port = rest.rpartition(":")
    return host.strip("[]"), int(port)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _retry_after(value: str | None) -> timedelta | None:
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return timedelta(seconds=max(0.0, float(value)))
    with contextlib.suppress(TypeError, ValueError):
        from datetime import UTC, datetime

        return max(timedelta(0), parsedate_to_datetime(value) - datetime.now(UTC))
    return None
