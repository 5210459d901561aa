"""``notifiers:`` entries of kind teams, webhook and email: what the spec refuses, at file:line:col with a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.spec.test_spec_errors import GOOD_SLO, HEAD, test_bad_spec

MAIL = """\
notifiers:
  ops-mail:
    kind: email
    host: smtp.example.com
    from: parapet@example.com
    to: [oncall@example.com]
"""

BAD = [
    ("teams-url-in-spec", "notifiers:\n  t:\n    kind: teams\n    url: https://x.logic.azure.com/?sig=canary\n",
     15, "notifiers.t.url", "is a secret", "url_env"),
    ("teams-without-url", "notifiers:\n  t:\n    kind: teams\n", 13, "notifiers.t", "needs its url", "url_env"),
    ("webhook-secret-in-spec",
     "notifiers:\n  h:\n    kind: webhook\n    url_env: HOOK_URL\n    secret: canary-secret\n",
     16, "notifiers.h.secret", "is a secret", "secret_file"),
    ("webhook-without-secret", "notifiers:\n  h:\n    kind: webhook\n    url_env: HOOK_URL\n",
     13, "notifiers.h", "needs its secret", "secret_env"),
    ("password-in-spec", MAIL + "    username: u@example.com\n    password: canary-password\n",
     19, "notifiers.ops-mail.password", "is a secret", "password_env"),
    ("password-without-username", MAIL + "    password_env: SMTP_PASSWORD\n",
     13, "notifiers.ops-mail.username", "needs the username", "username"),
    ("username-without-password", MAIL + "    username: u@example.com\n",
     18, "notifiers.ops-mail.username", "needs its password", "password_env"),
    ("password-without-tls", MAIL + "    security: none\n    username: u\n    password_env: SMTP_PASSWORD\n",
     18, "notifiers.ops-mail.security", "only sent over TLS", "starttls"),
    ("not-an-address", MAIL.replace("[oncall@example.com]", "[oncall]"),
     17, "notifiers.ops-mail.to", "is not an email address", "name@domain"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "field", "message", "hint"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_notifiers(tmp_path: Path, cli, text: str, line: int, field: str, message: str, hint: str) -> None:  # type: ignore[no-untyped-def]
    test_bad_spec(tmp_path, cli, HEAD + GOOD_SLO + text, line, field, message, hint)
    assert "canary" not in cli("gen", "slo", "--spec", str(tmp_path / "parapet.yaml")).output


def test_an_unknown_security_names_the_three_choices(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "parapet.yaml"
    spec.write_text(HEAD + GOOD_SLO + MAIL + "    security: tls\n")
    result = cli("gen", "slo", "--spec", str(spec))
    assert result.exit_code == 3
    assert f"{spec}:18:15: notifiers.ops-mail.security: 'tls' is not allowed" in result.stderr
    assert "'starttls', 'ssl' or 'none'" in result.stderr and "Traceback" not in result.output
