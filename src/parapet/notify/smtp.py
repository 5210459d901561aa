"""Email over SMTP: one message per state change, threaded per incident.

    compose(message, ...) -> EmailMessage    plain-text and HTML alternatives, the headers below
    send(server, mail) -> Verdict            delivered · transient (4xx reply, connection lost, timeout: try
                                             again) · rejected (5xx reply, refused credentials, no STARTTLS)

Threading: every message of one incident to one target carries ``References`` and ``In-Reply-To`` pointing at
the incident's thread id, ``<parapet.<target>.<incident>@<domain>>``, which is also the ``Message-ID`` of the
"opened" message; the others get ``<parapet.<target>.<incident>.<event>.<seq>@<domain>>``, the same on every
retry of one notification, so a server or client that sees a retry twice keeps one. The subject stays the same
for the incident's whole life (``[Parapet] #12 <title>``): clients that thread by subject (Gmail) need that;
what happened is the first line of the body. ``Auto-Submitted: auto-generated`` (RFC 3834) keeps auto-replies
away; ``X-Parapet-Incident`` and ``X-Parapet-Event`` let mail rules sort the messages.

Transport security is ``starttls`` (port 587, the default), ``ssl`` (implicit TLS, port 465) or ``none``
(a local relay); a password is only ever sent over TLS, and certificates are verified (against ``ca_file``
when given). The password comes from the environment or a file and appears in no error: smtplib's exceptions
carry the server's reply, never the credentials.
"""

from __future__ import annotations

import html
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from enum import StrEnum
from pathlib import Path
from typing import Final

from parapet.notify.base import BaseNotifier, Delivery, Notification, register
from parapet.notify.secrets import SecretReader
from parapet.notify.text import clip, event_line, facts, headline, links
from parapet.notify.transport import Outcome, Verdict, conclude
from parapet.spec.model import NotifierSettings

DEFAULT_TIMEOUT: Final = 20.0
MAX_SUBJECT: Final = 200
MAX_SUMMARY: Final = 20_000
MAX_LABELS: Final = 50
INCIDENT_HEADER: Final = "X-Parapet-Incident"
EVENT_HEADER: Final = "X-Parapet-Event"
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_SPACE = re.compile(r"\s+")


class Security(StrEnum):
    STARTTLS = "starttls"
    SSL = "ssl"
    NONE = "none"


DEFAULT_PORTS: Final = {Security.STARTTLS: 587, Security.SSL: 465, Security.NONE: 25}


@dataclass(frozen=True)
class Server:
    """Where and how to hand messages over. ``password`` is the secret's value, kept out of ``repr``."""

    host: str
    port: int
    security: Security = Security.STARTTLS
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    ca_file: Path | None = None


def id_domain(sender: str) -> str:
    """The right-hand side of the Message-IDs: the sender address's domain."""
    domain = sender.rpartition("@")[2].strip().strip(">").lower()
    return domain if re.fullmatch(r"[a-z0-9.-]+", domain) and "." in domain else "parapet.invalid"


def _atom(*parts: object) -> str:
    return ".".join(_ID_UNSAFE.sub("-", str(p)) or "-" for p in parts)


def thread_id(target: str, incident_id: int, domain: str) -> str:
    return f"<parapet.{_atom(target, incident_id)}@{domain}>"


def message_id(target: str, incident_id: int, event: str, seq: object, domain: str) -> str:
    """The Message-ID of one notification: the thread id for "opened", else one per (event, seq)."""
    if event == "opened":
        return thread_id(target, incident_id, domain)
    return f"<parapet.{_atom(target, incident_id, event, seq)}@{domain}>"


def subject(message: Notification) -> str:
    incident = message.incident
    return clip(_SPACE.sub(" ", f"[Parapet] #{incident.id} {incident.title}").strip(), MAX_SUBJECT)


def compose(
    message: Notification, *, sender: str, recipients: tuple[str, ...], seq: object, now: datetime | None = None
) -> EmailMessage:
    """The email of one notification: headers for threading and sorting, a text part and an HTML part."""
    incident = message.incident
    domain = id_domain(sender)
    root = thread_id(message.target, incident.id, domain)
    mail = EmailMessage()
    mail["Subject"] = subject(message)
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = format_datetime(now or datetime.now(UTC))
    mail["Message-ID"] = message_id(message.target, incident.id, message.event, seq, domain)
    if mail["Message-ID"] != root:
        mail["In-Reply-To"] = root
        mail["References"] = root
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Auto-Response-Suppress"] = "All"  # Outlook's out-of-office and read receipts
    mail[INCIDENT_HEADER] = str(incident.id)
    mail[EVENT_HEADER] = message.event
    mail.set_content(text_body(message))
    mail.add_alternative(html_body(message), subtype="html")
    return mail


def _lines(message: Notification) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    incident = message.incident
    labels = sorted((str(k), str(v)) for k, v in incident.labels.items())[:MAX_LABELS]
    return facts(incident), labels


def text_body(message: Notification) -> str:
    incident = message.incident
    pairs, labels = _lines(message)
    out = [event_line(message), "", headline(incident), ""]
    if incident.summary:
        out += [clip(incident.summary, MAX_SUMMARY), ""]
    out += [f"{name}: {value}" for name, value in pairs]
    if labels:
        out += ["", "Labels:", *(f"  {k}: {v}" for k, v in labels)]
    out += ["", *(f"{title}: {url}" for title, url in links(message))]
    return "\n".join(out).rstrip("\n") + "\n"


def html_body(message: Notification) -> str:
    incident = message.incident
    pairs, labels = _lines(message)
    e = html.escape
    rows = "".join(f"<tr><th align=left>{e(n)}</th><td>{e(v)}</td></tr>" for n, v in pairs)
    parts = [
        "<!doctype html><html><body>",
        f"<p>{e(event_line(message))}</p>",
        f"<h1>{e(headline(incident))}</h1>",
    ]
    if incident.summary:
        parts.append(f"<p>{e(clip(incident.summary, MAX_SUMMARY))}</p>")
    parts.append(f"<table>{rows}</table>")
    if labels:
        items = "".join(f"<li><code>{e(k)}</code>: {e(v)}</li>" for k, v in labels)
        parts.append(f"<h2>Labels</h2><ul>{items}</ul>")
    anchors = [f'<a href="{e(url)}">{e(title)}</a>' for title, url in links(message)]
    if anchors:
        parts.append(f"<p>{' · '.join(anchors)}</p>")
    parts.append("<p><small>Sent by Parapet.</small></p></body></html>")
    return "".join(parts)


def send(server: Server, mail: EmailMessage) -> Verdict:
    """Hand ``mail`` to the server; the verdict says whether it was accepted, worth another try, or refused."""
    context = ssl.create_default_context(cafile=str(server.ca_file) if server.ca_file else None)
    try:
        client: smtplib.SMTP
        if server.security is Security.SSL:
            client = smtplib.SMTP_SSL(server.host, server.port, timeout=server.timeout, context=context)
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=server.timeout)
        with client:
            if server.security is Security.STARTTLS:
                client.starttls(context=context)
            if server.username and server.password is not None:
                client.login(server.username, server.password)
            refused = client.send_message(mail)
    except smtplib.SMTPNotSupportedError:
        return Verdict(Outcome.REJECTED, "the server does not offer STARTTLS (or the login it needs)")
    except smtplib.SMTPAuthenticationError as exc:
        return Verdict(Outcome.REJECTED, f"the server refused the credentials: {_reply(exc.smtp_code, exc.smtp_error)}")
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _ in exc.recipients.values()})
        outcome = Outcome.TRANSIENT if all(400 <= c < 500 for c in codes) else Outcome.REJECTED
        return Verdict(outcome, f"the server refused every recipient ({', '.join(map(str, codes))})")
    except smtplib.SMTPResponseException as exc:
        outcome = Outcome.TRANSIENT if 400 <= exc.smtp_code < 500 else Outcome.REJECTED
        return Verdict(outcome, _reply(exc.smtp_code, exc.smtp_error))
    except TimeoutError:
        return Verdict(Outcome.TRANSIENT, f"no answer from the SMTP server within {server.timeout:g} s")
    except ssl.SSLError as exc:
        return Verdict(Outcome.REJECTED, f"TLS with the SMTP server failed ({exc.reason or type(exc).__name__})")
    except (smtplib.SMTPException, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        return Verdict(Outcome.TRANSIENT, f"the SMTP server could not be reached ({reason})")
    detail = f"accepted by {server.host}:{server.port}"
    if refused:
        detail += f"; {len(refused)} recipient(s) refused: {', '.join(sorted(refused))}"
    return Verdict(Outcome.DELIVERED, detail)


def _reply(code: int, error: bytes | str) -> str:
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    return f"{code} {clip(_SPACE.sub(' ', text).strip(), 200)}"


@register
class Email(BaseNotifier):
    """``kind: email``: one message per state change to ``to``, through ``host`` (the password from
    ``password_env``/``password_file``)."""

    kind = "email"

    def __init__(self, settings: NotifierSettings, server: Server) -> None:
        super().__init__(settings)
        self.server = server
        self.sender = str(settings.option("sender"))
        self.recipients = tuple(str(r) for r in settings.option("to", ()))

    def __repr__(self) -> str:
        return f"Email({self.target!r})"

    @classmethod
    def from_settings(cls, settings: NotifierSettings, secrets: SecretReader) -> Email:
        security = Security(settings.option("security", Security.STARTTLS.value))
        server = Server(
            host=str(settings.option("host")),
            port=int(settings.option("port") or DEFAULT_PORTS[security]),
            security=security,
            username=settings.option("username"),
            password=secrets.read("password") if secrets.has("password") else None,
            ca_file=_relative(settings, settings.option("ca_file")),
        )
        return cls(settings, server)

    def deliver(self, message: Notification) -> Delivery:
        seq = message.key.rpartition(":")[2] if message.key else message.event
        mail = compose(message, sender=self.sender, recipients=self.recipients, seq=seq)
        delivery = conclude(send(self.server, mail), delivered="sent", where="the SMTP server")
        return Delivery(delivery.outcome, external_id=str(mail["Message-ID"]), detail=delivery.detail)


def _relative(settings: NotifierSettings, path: str | None) -> Path | None:
    """A path of the spec, relative to the spec's folder."""
    if path is None:
        return None
    return settings.base / path if settings.base is not None else Path(path)
