"""Golden cases: every ``tests/fixtures/golden/<case>/spec.yaml`` generates exactly ``expected/``.

Each case runs twice (the second plan must be all identical), and every generated rule file passes
``promtool check rules --lint=all --lint-fatal`` and every generated test file ``promtool test rules``.
``pytest --update-golden`` rewrites expected/ instead of comparing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

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
