"""Golden cases: every ``tests/fixtures/golden/<case>/spec.yaml`` generates exactly ``expected/``.

Each case runs twice (the second plan must be all identical), and every generated rule file passes
``promtool check rules --lint=all --lint-fatal`` and every generated test file ``promtool test rules``.
``pytest --update-golden`` rewrites expected/ instead of comparing.

Every link a generated file holds points at something generated (``test_links``): a dashboard link in an
alert names the uid of a dashboard ``parapet gen dashboards`` writes, a rule test file names the rule file
beside it, the dashboards' provisioning file names their folder, and no link keeps a ``{placeholder}``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import FIXTURES, run_promtool, tree_hash

CASES = sorted(p.parent for p in (FIXTURES / "golden").glob("*/spec.yaml"))


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 7


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case: Path, tmp_path: Path, cli, update_golden: bool, promtool: str) -> None:  # type: ignore[no-untyped-def]
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(case / "spec.yaml", project / "spec.yaml")
    out = project / "out"

    first = cli("gen", "slo", "--spec", str(project / "spec.yaml"), "--out", str(out), "--format", "json")
    assert first.exit_code == 0, first.output
    plan = json.loads(first.stdout)
    assert {f["action"] for f in plan["files"]} == {"create"}, plan

    expected = case / "expected"
    if update_golden:
        shutil.rmtree(expected, ignore_errors=True)
        shutil.copytree(out, expected)
    produced = tree_hash(out)
    wanted = tree_hash(expected)
    assert sorted(produced) == sorted(wanted), "files differ from expected/ (run pytest --update-golden)"
    for name in produced:
        assert (out / name).read_text() == (expected / name).read_text(), f"{name} differs from expected/"

    before = tree_hash(project)
    second = cli("gen", "slo", "--spec", str(project / "spec.yaml"), "--out", str(out), "--format", "json")
    assert second.exit_code == 0, second.output
    assert {f["action"] for f in json.loads(second.stdout)["files"]} == {"identical"}
    assert tree_hash(project) == before, "a second run changed bytes on disk"

    rules = sorted(out.glob("*.rules.yml"))
    tests = sorted(out.glob("*.test.yml"))
    assert rules and tests
    for path in rules:
        result = run_promtool(promtool, "check", "rules", "--lint=all", "--lint-fatal", str(path))
        assert result.returncode == 0, result.stdout + result.stderr
    for path in tests:
        result = run_promtool(promtool, "test", "rules", path.name, cwd=out)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "No cases for SLO" not in path.read_text(), "every SLO of a golden case must get test cases"


def _annotations(rules: Path) -> list[dict[str, str]]:
    groups = yaml.safe_load(rules.read_text())["groups"]
    return [rule["annotations"] for group in groups for rule in group["rules"] if "alert" in rule]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_links(case: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "spec.yaml"
    shutil.copy(case / "spec.yaml", spec)
    for target, out in (("slo", tmp_path / "rules"), ("dashboards", tmp_path / "grafana")):
        result = cli("gen", target, "--spec", str(spec), "--out", str(out), "--format", "json")
        assert result.exit_code == 0, result.output
    boards = [json.loads(p.read_text()) for p in (tmp_path / "grafana" / "dashboards").rglob("*.json")]
    uids = {board["uid"] for board in boards}
    assert len(uids) == len(boards) >= 2, "every dashboard has its own uid"

    links = 0
    for rules in (tmp_path / "rules").glob("*.rules.yml"):
        for notes in _annotations(rules):
            runbook = notes["runbook_url"]
            assert re.match(r"https?://[^\s{}]+$", runbook), f"runbook link {runbook!r} is not a filled-in URL"
            dashboard = notes.get("dashboard")
            if dashboard is None:
                continue
            assert "{" not in dashboard.replace("{{", ""), f"dashboard link {dashboard!r} keeps a placeholder"
            found = re.search(r"/d/([^/?#]+)", dashboard)
            if found:
                links += 1
                assert found.group(1) in uids, f"{dashboard} names no generated dashboard (uids: {sorted(uids)})"
    if "{uid}" in spec.read_text():
        assert links, "the case links its alerts to dashboards: the check must have seen those links"

    for test_file in (tmp_path / "rules").glob("*.test.yml"):
        for name in yaml.safe_load(test_file.read_text())["rule_files"]:
            assert (tmp_path / "rules" / name).is_file(), f"{test_file.name} names {name}, which was not generated"

    for provider in (tmp_path / "grafana" / "provisioning" / "dashboards").glob("*.yml"):
        for entry in yaml.safe_load(provider.read_text())["providers"]:
            folder = Path(entry["options"]["path"]).name
            assert (tmp_path / "grafana" / "dashboards" / folder).is_dir(), f"{provider.name} loads a missing folder"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_rules_load_in_vmalert(case: Path) -> None:
    """VictoriaMetrics' vmalert accepts every expected rule file as it is (``vmalert -dryRun``)."""
    from tests.engines import victoriametrics

    engine = victoriametrics()
    rules = sorted((case / "expected").glob("*.rules.yml"))
    assert rules
    for path in rules:
        engine.check(path.parent, path.name)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_rules_are_stateless(case: Path) -> None:
    """No rule reads its own output, and every recorded series a rule reads is recorded above it.

    A rule that reads its own earlier value breaks under ``vmalert -replay`` (each rule is one range
    query there) and when a ruler restarts or moves the group; reading only what the rules above wrote in
    the same evaluation keeps every engine's answer the same.
    """
    for path in sorted((case / "expected").glob("*.rules.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            assert group.get("interval") == "1m", f"{group['name']}: the long windows count one 5m sample a minute"
            above: set[str] = set()
            for rule in group["rules"]:
                reads = set(re.findall(r"parapet_slo:[a-z0-9_:]+", rule["expr"]))
                name = rule.get("record")
                assert name not in reads, f"{group['name']}: {name} reads its own output"
                assert reads <= above, (
                    f"{group['name']}: {name or rule['alert']} reads {sorted(reads - above)} not recorded above it"
                )
                if name:
                    above.add(name)
