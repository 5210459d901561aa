"""A real SMTP server on loopback (aiosmtpd) for the email notifier's tests: plain, STARTTLS or implicit TLS,
with or without AUTH, answering each DATA with a scripted reply (250 by default)."""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER = "parapet@example.com"


@dataclass
class Mailbox:
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl, as on every Debian machine)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server(
    *, tls: tuple[Path, Path] | None = None, implicit: bool = False, password: str | None = None
) -> Iterator[Mailbox]:
    box = Mailbox(port=_free_port())

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if box.replies:
                return box.replies.pop(0)
            box.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            box.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))  # type: ignore[arg-type]
            return "250 OK queued"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login.decode() == USER and data.password.decode() == password
        if ok:
            box.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself

    context = None
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
    options: dict[str, Any] = {}
    if password is not None:
        # AUTH only over TLS; with implicit TLS aiosmtpd cannot tell, and the whole session is encrypted anyway
        options.update(authenticator=authenticate, auth_require_tls=tls is not None and not implicit)
    if context is not None and not implicit:
        options.update(tls_context=context, require_starttls=True)
    controller = Controller(
        Sink(), hostname="127.0.0.1", port=box.port, ssl_context=context if implicit else None, **options
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
