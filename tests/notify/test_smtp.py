"""The email notifier against a real SMTP server on loopback: STARTTLS and implicit TLS with a verified
certificate and AUTH, the received message's subject, parts and threading headers, and what is retried."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from parapet.notify import smtp
from parapet.notify.base import Notification
from parapet.notify.smtp import Security, Server
from parapet.notify.transport import Outcome
from tests.notify.helpers import CANARY, incident, notification
from tests.notify.smtp_server import USER, certificate, smtp_server

SENDER = "Parapet <parapet@example.com>"
TO = ("oncall@example.com", "lead@example.com")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return certificate(tmp_path_factory.mktemp("tls"))


def mail(note: Notification, seq: object = 1) -> smtp.EmailMessage:
    return smtp.compose(note, sender=SENDER, recipients=TO, seq=seq)


def test_starttls_with_login_delivers_a_threaded_message_with_both_parts(
    tls: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with smtp_server(tls=tls, password=CANARY) as box:
        server = Server("127.0.0.1", box.port, Security.STARTTLS, USER, CANARY, timeout=10, ca_file=tls[0])
        opened = smtp.send(server, mail(notification()))
        acked = notification(event="acknowledged", actor="alice", incident=incident(state="acknowledged"))
        second = smtp.send(server, mail(acked, seq=2))
    assert opened.outcome is Outcome.DELIVERED and second.outcome is Outcome.DELIVERED, (opened, second)
    assert box.logins == [USER, USER]
    assert box.envelopes[0] == ("parapet@example.com", list(TO))
    first, reply = box.messages
    assert first["Subject"] == reply["Subject"] == "[Parapet] #12 Checkout availability is burning its error budget 14x"
    assert first["Message-ID"] == "<parapet.ops.12@example.com>"
    assert first["In-Reply-To"] is None
    assert reply["Message-ID"] == "<parapet.ops.12.acknowledged.2@example.com>"
    assert reply["In-Reply-To"] == reply["References"] == first["Message-ID"]
    assert reply["Auto-Submitted"] == "auto-generated"
    assert reply["X-Parapet-Incident"] == "12" and reply["X-Parapet-Event"] == "acknowledged"
    assert reply.get_content_type() == "multipart/alternative"
    text = reply.get_body(("plain",)).get_content().replace("\r\n", "\n")
    page = reply.get_body(("html",)).get_content()
    assert text.startswith("Acknowledged by alice\n\n[ACKNOWLEDGED] #12 Checkout")
    assert "Open in Parapet: https://parapet.example.com/parapet/incidents/12" in text
    assert "Runbook: https://runbooks.example.com/checkout" in text
    assert '<a href="https://parapet.example.com/parapet/incidents/12">Open in Parapet</a>' in page
    assert "region" in text and "eu-west-1" in page
    assert CANARY not in caplog.text and CANARY not in repr(server)


def test_the_message_id_is_the_same_on_every_retry() -> None:
    note = notification(event="resolved", actor="bob")
    assert mail(note, seq=5)["Message-ID"] == mail(note, seq=5)["Message-ID"]
    assert mail(note, seq=5)["Message-ID"] != mail(note, seq=6)["Message-ID"]
    assert mail(notification(target="other"), seq=5)["Message-ID"] != mail(notification(), seq=5)["Message-ID"]


def test_implicit_tls_delivers(tls: tuple[Path, Path]) -> None:
    with smtp_server(tls=tls, implicit=True, password=CANARY) as box:
        server = Server("127.0.0.1", box.port, Security.SSL, USER, CANARY, timeout=10, ca_file=tls[0])
        result = smtp.send(server, mail(notification()))
    assert result.outcome is Outcome.DELIVERED, result
    assert len(box.messages) == 1


def test_an_untrusted_certificate_is_refused(tls: tuple[Path, Path]) -> None:
    with smtp_server(tls=tls, password=CANARY) as box:
        server = Server("127.0.0.1", box.port, Security.STARTTLS, USER, CANARY, timeout=10)  # no ca_file
        result = smtp.send(server, mail(notification()))
    assert result.outcome is Outcome.REJECTED and "TLS" in result.detail
    assert box.messages == [] and box.logins == []


def test_wrong_credentials_are_a_failure_that_does_not_quote_the_password(tls: tuple[Path, Path]) -> None:
    with smtp_server(tls=tls, password="the-right-one") as box:
        server = Server("127.0.0.1", box.port, Security.STARTTLS, USER, CANARY, timeout=10, ca_file=tls[0])
        result = smtp.send(server, mail(notification()))
    assert result.outcome is Outcome.REJECTED and "credentials" in result.detail
    assert CANARY not in result.detail and box.messages == []


def test_a_server_without_starttls_is_refused_before_the_password_leaves() -> None:
    with smtp_server() as box:
        server = Server("127.0.0.1", box.port, Security.STARTTLS, USER, CANARY, timeout=10)
        result = smtp.send(server, mail(notification()))
    assert result.outcome is Outcome.REJECTED and "STARTTLS" in result.detail
    assert box.messages == []


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [("451 4.3.0 try again later", Outcome.TRANSIENT), ("554 5.7.1 rejected as spam", Outcome.REJECTED)],
)
def test_4xx_is_retried_and_5xx_is_a_failure(reply: str, outcome: Outcome) -> None:
    with smtp_server() as box:
        box.replies.append(reply)
        result = smtp.send(Server("127.0.0.1", box.port, Security.NONE, timeout=10), mail(notification()))
    assert result.outcome is outcome
    assert result.detail == reply.replace(" ", " ", 1)


def test_no_server_is_a_transient_failure() -> None:
    with smtp_server() as box:
        port = box.port
    result = smtp.send(Server("127.0.0.1", port, Security.NONE, timeout=5), mail(notification()))
    assert result.outcome is Outcome.TRANSIENT and "could not be reached" in result.detail


def test_hostile_titles_cannot_add_headers_and_are_escaped_in_html() -> None:
    note = notification(incident=incident(title="x\r\nBcc: victim@example.com\n<script>alert(1)</script>"))
    message = mail(note)
    assert "\n" not in message["Subject"] and message["Bcc"] is None
    page = message.get_body(("html",)).get_content()
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_links_are_offered_only_for_web_urls() -> None:
    message = mail(notification(url="", incident=incident(runbook_url="javascript:alert(1)")))
    text = message.get_body(("plain",)).get_content()
    page = message.get_body(("html",)).get_content()
    assert "Open in Parapet" not in text and "Runbook" not in text and "javascript" not in page
    assert "<a " not in page
