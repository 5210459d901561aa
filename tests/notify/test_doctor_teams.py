"""`parapet doctor` PAR207 on a spec whose Teams target still reads an Office 365 connector URL from the
environment: the finding names the target and the variable, never the URL (its path carries the secret)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parapet.notify import secrets as notify_secrets
from tests.notify.helpers import CANARY
from tests.spec.test_spec_errors import GOOD_SLO, HEAD

TEAMS = "notifiers:\n  ops-teams:\n    kind: teams\n    url_env: PARAPET_TEST_TEAMS_URL\n"


@pytest.mark.parametrize(
    ("url", "fires"),
    [
        (f"https://contoso.webhook.office.com/webhookb2/{CANARY}@tenant/IncomingWebhook/{CANARY}/owner", True),
        (f"https://outlook.office.com/webhook/{CANARY}@tenant/IncomingWebhook/{CANARY}/owner", True),
        (f"https://prod-1.westeurope.logic.azure.com/workflows/1/triggers/manual/paths/invoke?sig={CANARY}", False),
    ],
    ids=["webhookb2", "outlook", "workflows"],
)
def test_doctor_flags_a_retired_connector_without_printing_it(
    tmp_path: Path,
    cli,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    fires: bool,  # type: ignore[no-untyped-def]
) -> None:
    notify_secrets.forget_all()
    (tmp_path / "parapet.yaml").write_text(HEAD + GOOD_SLO + TEAMS, encoding="utf-8")
    monkeypatch.setenv("PARAPET_TEST_TEAMS_URL", url)
    result = cli("doctor", "PAR207", str(tmp_path), "--format", "json")
    assert CANARY not in result.output
    findings = [f for f in json.loads(result.stdout)["findings"] if f["rule"] == "PAR207"]
    assert result.exit_code == (1 if fires else 0), result.output
    if fires:
        (finding,) = findings
        assert finding["severity"] == "error" and finding["line"] == 13
        assert "ops-teams" in finding["message"] and "PARAPET_TEST_TEAMS_URL" in finding["message"]
        assert "Workflows" in finding["hint"]
    else:
        assert findings == []
