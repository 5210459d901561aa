"""``notifiers:`` in the spec: secrets only as ``*_env`` / ``*_file`` references, errors at file:line:col, and
the secret reader that masks every value it reads."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from parapet.notify import NotifierError, SecretUnavailable, redact
from parapet.notify import secrets as notify_secrets
from parapet.spec import load_spec
from tests.spec.test_spec_errors import GOOD_SLO, HEAD, test_bad_spec

SLACK = """\
notifiers:
  ops-slack:
    kind: slack
    channel: "#incidents"
    token_env: SLACK_BOT_TOKEN
    announce: true
"""


@pytest.fixture(autouse=True)
def _forget() -> None:
    notify_secrets.forget_all()


def test_a_slack_target_is_built_with_references_only(tmp_path: Path) -> None:
    spec = tmp_path / "parapet.yaml"
    text = SLACK.replace("token_env: SLACK_BOT_TOKEN", "token_file: secrets/slack.token\n    buttons: true")
    text += "    signing_secret_env: SLACK_SIGNING\n    users: {U012ABCDEF: alice}\n"
    spec.write_text(HEAD + GOOD_SLO + text)
    built = load_spec(spec)
    (target,) = built.notifiers
    assert (target.name, target.kind, target.announce, target.line) == ("ops-slack", "slack", True, 13)
    token, signing = target.secrets
    assert (token.field, token.env, token.file) == ("token", None, tmp_path / "secrets" / "slack.token")
    assert (signing.field, signing.env, signing.file) == ("signing_secret", "SLACK_SIGNING", None)
    assert target.option("channel") == "#incidents"
    assert target.option("users") == {"U012ABCDEF": "alice"}
    assert target.option("token_file") is None  # references are not options
    assert built.notifier("ops-slack") is target and built.notifier("nope") is None


BAD = [
    (
        "secret-in-spec",
        SLACK.replace("token_env: SLACK_BOT_TOKEN", "token: xoxb-canary-0000"),
        16,
        "notifiers.ops-slack.token",
        "is a secret",
        "token_env",
    ),
    ("both-env-and-file", SLACK + "    token_file: t\n", 18, "notifiers.ops-slack.token_file", "twice", "keep one"),
    (
        "no-token",
        SLACK.replace("    token_env: SLACK_BOT_TOKEN\n", ""),
        13,
        "notifiers.ops-slack",
        "needs its token",
        "token_file",
    ),
    (
        "unknown-kind",
        SLACK.replace("kind: slack", "kind: pager"),
        13,
        "notifiers.ops-slack",
        "unknown kind 'pager'",
        "slack",
    ),
    (
        "buttons-without-signing-secret",
        SLACK + "    buttons: true\n",
        18,
        "notifiers.ops-slack.buttons",
        "signing secret",
        "signing_secret_env",
    ),
    (
        "bad-env-name",
        SLACK.replace("SLACK_BOT_TOKEN", "SLACK-TOKEN"),
        16,
        "notifiers.ops-slack.token_env",
        "not a valid",
        "",
    ),
    (
        "bad-slack-user",
        SLACK + "    users: {alice: alice}\n",
        18,
        "notifiers.ops-slack.users.alice",
        "not a valid key of users",
        "Slack user ids",
    ),
]


@pytest.mark.parametrize(("text", "line", "field", "message", "hint"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_notifiers(tmp_path: Path, cli, text: str, line: int, field: str, message: str, hint: str) -> None:  # type: ignore[no-untyped-def]
    test_bad_spec(tmp_path, cli, HEAD + GOOD_SLO + text, line, field, message, hint)
    # the value of a secret written in the spec is not echoed back
    assert "canary" not in cli("gen", "slo", "--spec", str(tmp_path / "parapet.yaml")).output


def test_secrets_are_read_from_env_or_file_and_masked(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spec = tmp_path / "parapet.yaml"
    spec.write_text(HEAD + GOOD_SLO + SLACK.replace("token_env: SLACK_BOT_TOKEN", "token_file: slack.token"))
    (target,) = load_spec(spec).notifiers
    (ref,) = target.secrets
    with pytest.raises(SecretUnavailable) as missing:
        notify_secrets.read(ref)
    assert "slack.token" in missing.value.message and missing.value.hint
    (tmp_path / "slack.token").write_text("xoxb-canary-file-1234\n")
    assert notify_secrets.read(ref) == "xoxb-canary-file-1234"
    assert redact("token=xoxb-canary-file-1234; again xoxb-canary-file-1234") == "token=[redacted]; again [redacted]"
    # an error built from text holding the secret never carries it
    assert "canary" not in NotifierError("refused xoxb-canary-file-1234", hint="xoxb-canary-file-1234").hint  # type: ignore[operator]
    # a client library's logger with the filter masks what it logs
    logger = notify_secrets.redacting_logger("tests.notify.client")
    with caplog.at_level(logging.DEBUG, logger="tests.notify.client"):
        logger.debug("Authorization: Bearer %s", "xoxb-canary-file-1234")
    assert "canary" not in caplog.text and "[redacted]" in caplog.text


def test_env_secret_url_masks_query_and_encoding() -> None:
    from parapet.spec.model import SecretRef

    url = "https://prod.example.logic.azure.com/workflows/abc/triggers/manual?api-version=1&sig=CanarySig0123456789"
    ref = SecretRef(field="url", env="TEAMS_URL")
    assert notify_secrets.read(ref, environ={"TEAMS_URL": url}) == url
    assert redact(f"POST {url} failed") == "POST [redacted] failed"
    assert "CanarySig" not in redact("sig=CanarySig0123456789 leaked alone")
    with pytest.raises(SecretUnavailable, match="TEAMS_URL"):
        notify_secrets.read(ref, environ={})
    with pytest.raises(SecretUnavailable, match="shorter than 8"):
        notify_secrets.read(ref, environ={"TEAMS_URL": "short"})
