"""Shared fixtures: the real promtool, golden-file updating, and a CLI runner with a pinned width."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"

# The host projects under fixtures/hosts carry their own test suites: tests/install runs them in a copy.
collect_ignore = ["fixtures"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite expected/ trees of golden cases")


@pytest.fixture(autouse=True)
def _incident_hooks_isolated() -> Iterator[None]:
    """Each test ends with the incident hooks' subscribers it started with: an app or a worker a test builds
    subscribes process-wide (``parapet.work.registry.install_subscribers``), and its notifier, escalation or
    audit subscriber must not write jobs into the next test's database."""
    hooks = sys.modules.get("parapet.evidence.hooks")
    before = hooks.subscribers() if hooks is not None else {}
    yield
    hooks = sys.modules.get("parapet.evidence.hooks")
    if hooks is None:
        return
    for name in hooks.subscribers():
        if name not in before:
            hooks.unsubscribe(name)
    for name, fn in before.items():
        hooks.subscribe(name, fn)


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def _promtool() -> str | None:
    return shutil.which("promtool")


@pytest.fixture(scope="session")
def promtool() -> str:
    """The real promtool. CI (CI=true) and PARAPET_REQUIRE_PROMTOOL=1 make its absence a failure."""
    path = _promtool()
    if path is None:
        if os.environ.get("CI") or os.environ.get("PARAPET_REQUIRE_PROMTOOL"):
            pytest.fail("promtool is not installed: apt-get install -y prometheus")
        pytest.skip("promtool is not installed (apt-get install -y prometheus)")
    return path


def run_promtool(promtool: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "dumb")


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.exit_code = code
        self.stdout = out
        self.stderr = err

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], cli_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run ``parapet ARGS…`` in-process; returns exit code, stdout and stderr. The current directory is the test's
    tmp_path (a test may chdir elsewhere), so a command never writes into the repository."""
    from parapet_cli.cli import run

    monkeypatch.chdir(tmp_path)

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        code = run(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


def tree_hash(root: Path) -> dict[str, str]:
    """Path -> sha256 of every file below root: proves a run changed no byte."""
    import hashlib

    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
