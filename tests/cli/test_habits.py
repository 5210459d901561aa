"""The repository's own habits: pre-commit runs ruff, ruff format and mypy (and does fix a badly formatted file),
and CI checks the formatting."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

CONFIG = ROOT / ".pre-commit-config.yaml"


def _pre_commit() -> str:
    path = shutil.which("pre-commit")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("pre-commit is not installed: pip install -e '.[dev]'")
        pytest.skip("pre-commit is not installed")
    return path


def test_hooks_run_ruff_ruff_format_and_mypy() -> None:
    hooks = {h["id"]: h for repo in yaml.safe_load(CONFIG.read_text())["repos"] for h in repo["hooks"]}
    assert hooks["ruff-check"]["entry"].startswith("ruff check")
    assert hooks["ruff-format"]["entry"].startswith("ruff format")
    assert hooks["mypy"]["entry"] == "mypy --strict src/" and hooks["mypy"]["pass_filenames"] is False
    run = subprocess.run([_pre_commit(), "validate-config", str(CONFIG)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_format_hook_fixes_a_file(tmp_path: Path) -> None:
    pre_commit = _pre_commit()
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(CONFIG, repo / ".pre-commit-config.yaml")
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")  # the same ruff settings
    (repo / "ugly.py").write_text("x = {  'a':1 }\n")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "GIT_CONFIG_GLOBAL": os.devnull}
    for args in (["init", "-q"], ["add", "."]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env)
    first = subprocess.run(
        [pre_commit, "run", "ruff-format", "--all-files"], cwd=repo, capture_output=True, text=True, env=env
    )
    assert first.returncode == 1 and "files were modified by this hook" in first.stdout, first.stdout
    assert (repo / "ugly.py").read_text() == 'x = {"a": 1}\n'
    second = subprocess.run(
        [pre_commit, "run", "ruff-format", "--all-files"], cwd=repo, capture_output=True, text=True, env=env
    )
    assert second.returncode == 0, second.stdout


def test_ci_checks_the_formatting() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "\nruff format --check src tests benchmarks\n" in script
    assert "\nruff check src tests benchmarks\n" in script and "\nmypy --strict src/\n" in script
