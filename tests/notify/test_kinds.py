"""The teams, webhook and email kinds built from a real spec (secrets from the environment and files) and
delivering to real servers on loopback: what a delivery returns, what a failure raises, and that no secret
reaches an error, a repr or a log line."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from parapet.notify import registry
from parapet.notify import secrets as notify_secrets
from parapet.notify.base import BaseNotifier, NotifierError
from parapet.notify.webhook import DEDUP_HEADER, SIGNATURE_HEADER, verify
from parapet.spec import load_spec
from tests.notify.helpers import CANARY, incident, notification, receiver
from tests.notify.smtp_server import USER, certificate, smtp_server
from tests.spec.test_spec_errors import GOOD_SLO, HEAD

SECRET = f"whsec-{CANARY}"
PASSWORD = f"pw-{CANARY}"


@pytest.fixture(autouse=True)
def _forget() -> None:
    notify_secrets.forget_all()


def build(tmp_path: Path, notifiers: str, environ: dict[str, str]) -> list[BaseNotifier]:
    spec = tmp_path / "parapet.yaml"
    spec.write_text(HEAD + GOOD_SLO + "notifiers:\n" + notifiers, encoding="utf-8")
    return [registry.build(target, environ) for target in load_spec(spec).notifiers]


def no_secret(*texts: object) -> None:
    for text in texts:
        assert CANARY not in str(text), text


def test_teams_posts_the_card_to_the_workflows_url_from_the_environment(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with receiver() as r:
        url = f"{r.url}/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig={CANARY}"
        (teams,) = build(tmp_path, "  ops-teams:\n    kind: teams\n    url_env: TEAMS_URL\n", {"TEAMS_URL": url})
        delivery = teams.deliver(notification(target="ops-teams"))
        r.statuses += [503, 400]
        with pytest.raises(NotifierError) as busy:
            teams.deliver(notification(target="ops-teams"))
        with pytest.raises(NotifierError) as refused:
            teams.deliver(notification(target="ops-teams"))
    assert (delivery.outcome, delivery.detail) == ("posted", "HTTP 202")
    first = r.requests[0]
    assert first.path.endswith(f"sig={CANARY}")
    assert first.headers["Content-Type"] == "application/json"
    assert json.loads(first.body)["attachments"][0]["content"]["type"] == "AdaptiveCard"
    assert "HTTP 503" in busy.value.message and "retried" in busy.value.message
    assert "HTTP 400" in refused.value.message and refused.value.hint
    no_secret(busy.value, refused.value, refused.value.hint, repr(teams), caplog.text)


def test_teams_refuses_a_retired_connector_url_without_posting_or_printing_it(tmp_path: Path) -> None:
    retired = f"https://contoso.webhook.office.com/webhookb2/{CANARY}@x/IncomingWebhook/{CANARY}/y"
    (teams,) = build(tmp_path, "  ops-teams:\n    kind: teams\n    url_env: TEAMS_URL\n", {"TEAMS_URL": retired})
    with pytest.raises(NotifierError) as caught:
        teams.deliver(notification(target="ops-teams"))
    assert "retired Office 365 connector" in caught.value.message and "Workflows" in str(caught.value.hint)
    no_secret(caught.value.message, caught.value.hint)


def test_teams_unreachable_is_a_failure_without_the_url(tmp_path: Path) -> None:
    with receiver() as r:
        url = f"{r.url}/?sig={CANARY}"
    (teams,) = build(tmp_path, "  t:\n    kind: teams\n    url_env: TEAMS_URL\n", {"TEAMS_URL": url})
    with pytest.raises(NotifierError) as caught:
        teams.deliver(notification(target="t"))
    assert "could not be reached" in caught.value.message
    no_secret(caught.value.message)


def test_the_webhook_signs_with_the_secret_file_and_sends_the_job_key_as_dedup_key(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "hook").write_text(f"{SECRET}\n{SECRET}-next\n", encoding="utf-8")
    notifiers = "  ops-hook:\n    kind: webhook\n    url_env: HOOK_URL\n    secret_file: secrets/hook\n"
    with receiver() as r:
        (hook,) = build(tmp_path, notifiers, {"HOOK_URL": f"{r.url}/parapet?token={CANARY}"})
        key = "ops-hook:12:481"
        delivery = hook.deliver(notification(target="ops-hook", event="acknowledged", actor="alice", key=key))
        r.statuses.append(500)
        with pytest.raises(NotifierError) as failed:
            hook.deliver(notification(target="ops-hook", key=key))
    assert delivery.outcome == "posted"
    got = r.requests[0]
    assert got.headers[DEDUP_HEADER] == key == json.loads(got.body)["dedup_key"]
    signature = got.headers[SIGNATURE_HEADER]
    assert verify(SECRET, signature, got.body, now=time.time())
    assert verify(f"{SECRET}-next", signature, got.body, now=time.time())
    assert r.requests[1].headers[DEDUP_HEADER] == key  # the retry of one notification carries the same key
    assert "HTTP 500" in failed.value.message
    no_secret(failed.value, repr(hook))
    # each line of the secret file is masked on its own
    assert notify_secrets.redact(f"x {SECRET}-next y") == "x [redacted] y"


def test_email_goes_over_starttls_with_the_password_from_a_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="parapet")
    tls = certificate(tmp_path)  # tmp_path/cert.pem: the server's self-signed certificate, as a private CA
    (tmp_path / "smtp-password").write_text(PASSWORD, encoding="utf-8")
    with smtp_server(tls=tls, password=PASSWORD) as box:
        notifiers = (
            f"  ops-mail:\n    kind: email\n    host: 127.0.0.1\n    port: {box.port}\n"
            f"    from: Parapet <parapet@example.com>\n    to: [oncall@example.com]\n"
            f"    username: {USER}\n    password_file: smtp-password\n    ca_file: cert.pem\n"
        )
        (mail,) = build(tmp_path, notifiers, {})
        resolved = incident(state="resolved", resolved_by="bob")
        delivery = mail.deliver(
            notification(target="ops-mail", event="resolved", actor="bob", incident=resolved, key="ops-mail:12:77")
        )
    assert delivery.outcome == "sent"
    assert delivery.external_id == "<parapet.ops-mail.12.resolved.77@example.com>"
    (received,) = box.messages
    assert received["Message-ID"] == delivery.external_id
    assert received["References"] == "<parapet.ops-mail.12@example.com>"
    assert box.logins == [USER]
    no_secret(repr(mail), caplog.text)


def test_the_webhook_url_may_be_written_in_the_spec(tmp_path: Path) -> None:
    with receiver() as r:
        notifiers = f"  h:\n    kind: webhook\n    url: {r.url}/in\n    secret_env: HOOK_SECRET\n"
        (hook,) = build(tmp_path, notifiers, {"HOOK_SECRET": SECRET})
        assert hook.deliver(notification(target="h")).outcome == "posted"
    (got,) = r.requests
    assert got.path == "/in" and verify(SECRET, got.headers[SIGNATURE_HEADER], got.body, now=time.time())
    assert got.headers[DEDUP_HEADER] == "h:12:opened"  # no job key: target, incident and event


def test_email_refused_by_the_server_is_a_failure(tmp_path: Path) -> None:
    with smtp_server() as box:
        box.replies.append("550 5.1.1 no such mailbox")
        notifiers = (
            f"  m:\n    kind: email\n    host: 127.0.0.1\n    port: {box.port}\n    security: none\n"
            "    from: parapet@example.com\n    to: [nobody@example.com]\n"
        )
        (mail,) = build(tmp_path, notifiers, {})
        with pytest.raises(NotifierError) as caught:
            mail.deliver(notification(target="m"))
    assert "550 5.1.1 no such mailbox" in caught.value.message


def test_a_rate_limit_waits_for_retry_after_without_counting_an_attempt(tmp_path: Path) -> None:
    from datetime import timedelta

    from parapet.work import Retry

    with receiver() as r:
        (teams,) = build(
            tmp_path, "  t:\n    kind: teams\n    url_env: TEAMS_URL\n", {"TEAMS_URL": f"{r.url}/?sig={CANARY}"}
        )
        r.statuses += [429, 429]
        r.answer_headers["Retry-After"] = "7"
        with pytest.raises(Retry) as limited:
            teams.deliver(notification(target="t"))
        del r.answer_headers["Retry-After"]
        with pytest.raises(Retry) as default:
            teams.deliver(notification(target="t"))
    assert limited.value.after == timedelta(seconds=7) and "rate limiting" in limited.value.reason
    assert default.value.after == timedelta(seconds=30)
    no_secret(limited.value.reason)
