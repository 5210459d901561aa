"""``parapet doctor`` on the command line: exit codes, the table, JSON's stable shape, SARIF against the official
2.1.0 schema, and GitHub annotation lines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from tests.doctor.helpers import copy_fixture, fixture, fixture_names

SCHEMA = Path(__file__).resolve().parent.parent / "fixtures" / "sarif-schema-2.1.0.json"
FINDING_KEYS = {"rule", "severity", "confidence", "path", "line", "column", "message", "hint", "fingerprint"}


def run(cli, root: Path, *args: str):  # type: ignore[no-untyped-def]
    return cli("doctor", "--root", str(root), *args)


def test_clean_repository_exits_0(cli) -> None:  # type: ignore[no-untyped-def]
    result = run(cli, fixture("par110-good"), "multinode")
    assert result.exit_code == 0, result.output
    assert "passed (--fail-on error)" in result.stderr
    assert "PAR110" not in result.stdout


def test_findings_at_or_above_the_threshold_exit_1(cli) -> None:  # type: ignore[no-untyped-def]
    result = run(cli, fixture("par101-bad"), "PAR101")
    assert result.exit_code == 1, result.output
    assert "PAR101" in result.stdout and "k8s/beat.yaml:16" in result.stdout
    assert "fix: run one beat process" in " ".join(result.stdout.split())
    assert "topology: 3 replicas (k8s/beat.yaml:5)" in result.stderr
    assert "failed: 1 at or above error" in result.stderr


def test_fail_on_warning(cli) -> None:  # type: ignore[no-untyped-def]
    root = fixture("par111-bad")
    assert run(cli, root, "PAR111").exit_code == 0
    assert run(cli, root, "PAR111", "--fail-on", "error").exit_code == 0
    assert run(cli, root, "PAR111", "--fail-on", "warning").exit_code == 1
    # infos never fail a run
    assert run(cli, fixture("par101-redbeat"), "PAR101", "--fail-on", "warning").exit_code == 0


def test_select_by_name_and_family(cli) -> None:  # type: ignore[no-untyped-def]
    result = run(cli, fixture("par115-bad"), "cron-in-replicated-image", "--format", "json")
    body = json.loads(result.stdout)
    assert body["checks"] == ["PAR109"]
    assert {f["rule"] for f in body["findings"]} == {"PAR109"}
    family = json.loads(run(cli, fixture("par115-bad"), "multinode", "--format", "json").stdout)
    assert family["checks"] == [
        "PAR101",
        "PAR102",
        "PAR103",
        "PAR104",
        "PAR105",
        "PAR106",
        "PAR109",
        "PAR110",
        "PAR111",
        "PAR112",
        "PAR115",
    ]


def test_usage_errors_exit_2(cli) -> None:  # type: ignore[no-untyped-def]
    unknown = run(cli, fixture("par101-bad"), "PAR999")
    assert unknown.exit_code == 2
    assert "error: unknown check 'PAR999'" in unknown.stderr and "hint:" in unknown.stderr
    assert "Traceback" not in unknown.output
    assert run(cli, fixture("par101-bad"), "--fail-on", "sometimes").exit_code == 2
    assert run(cli, fixture("par101-bad"), "--format", "xml").exit_code == 2


def test_missing_spec_or_root_exit_3(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = run(cli, fixture("par101-bad"), "--spec", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 3 and "spec file not found" in missing.stderr
    assert run(cli, tmp_path / "nothing-here").exit_code == 3


def test_json_shape(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = copy_fixture("par104-bad", tmp_path)
    settings = root / "shop" / "settings.py"
    settings.write_text(
        settings.read_text().replace(
            "SESSION_ENGINE =", "# parapet: ignore[PAR104] reason=sessions move to Redis next sprint\nSESSION_ENGINE ="
        )
    )
    result = run(cli, root, "multinode", "--format", "json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert set(body) == {
        "version",
        "tool",
        "fail_on",
        "exit_code",
        "summary",
        "checks",
        "findings",
        "suppressed",
        "topology",
    }
    assert body["version"] == 1 and body["exit_code"] == 1 and body["fail_on"] == "error"
    assert body["summary"] == {"error": 4, "warning": 0, "info": 0}
    for finding in body["findings"]:
        assert set(finding) == FINDING_KEYS
        assert re.fullmatch(r"[0-9a-f]{20}", finding["fingerprint"])
    assert [(s["rule"], s["line"], s["suppressed"]) for s in body["suppressed"]] == [
        ("PAR104", 12, {"kind": "inline", "reason": "sessions move to Redis next sprint"})
    ]
    assert body["topology"]["workers"] == 4 and body["topology"]["replicas"] == 1
    assert body["topology"]["processes"][0]["origin"] == "compose service"


@pytest.mark.parametrize("name", fixture_names())
def test_sarif_validates_against_the_official_schema(cli, name: str) -> None:  # type: ignore[no-untyped-def]
    schema = json.loads(SCHEMA.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    result = run(cli, fixture(name), "--format", "sarif")
    log = json.loads(result.stdout)
    errors = sorted(validator_class(schema).iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    run_ = log["runs"][0]
    rules = [r["id"] for r in run_["tool"]["driver"]["rules"]]
    for res in run_["results"]:
        assert rules[res["ruleIndex"]] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
        assert res["partialFingerprints"]["parapet/v1"]


def test_sarif_carries_suppressions_and_levels(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = copy_fixture("par110-bad", tmp_path)
    path = root / "cronjob.yaml"
    path.write_text(
        path.read_text().replace(
            "spec:\n  schedule", "spec:  # parapet: ignore[PAR110] reason=idempotent\n  schedule", 1
        )
    )
    log = json.loads(run(cli, root, "PAR110", "--format", "sarif").stdout)
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(log)
    results = log["runs"][0]["results"]
    suppressed = [r for r in results if "suppressions" in r]
    assert [s["suppressions"] for s in suppressed] == [[{"kind": "inSource", "justification": "idempotent"}]] * 2
    assert {r["level"] for r in results} == {"warning", "note"}
    active = [r for r in results if "suppressions" not in r]
    assert active[0]["locations"][0]["physicalLocation"]["region"] == {"startLine": 7}


def test_github_annotations(cli) -> None:  # type: ignore[no-untyped-def]
    result = run(cli, fixture("par110-bad"), "PAR110", "--format", "github")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        "::warning file=cronjob.yaml,line=5,title=PAR110 cronjob-hygiene::CronJob nightly-report"
    )
    assert lines[-1].startswith("::notice file=cronjob.yaml,line=5,")
    assert len(lines) == 3


def test_github_annotations_summarise_the_overflow(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "many"
    root.mkdir()
    job = (fixture("par110-bad") / "cronjob.yaml").read_text()
    for i in range(12):
        (root / f"job{i:02}.yaml").write_text(job.replace("nightly-report", f"report-{i}"))
    lines = run(cli, root, "PAR110", "--format", "github").stdout.splitlines()
    warnings = [line for line in lines if line.startswith("::warning file=")]
    assert len(warnings) == 9
    assert any(
        line.startswith("::warning title=parapet doctor::15 more warning finding(s) not shown") for line in lines
    )
    assert any(line.startswith("::notice title=parapet doctor::3 more notice finding(s)") for line in lines)
    assert "%" not in "".join(warnings).replace("%2C", "").replace("%3A", "")
