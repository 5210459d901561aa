"""A bug never reaches the user as a traceback: one ``error: internal error in …`` line, a hint, exit 70;
``PARAPET_DEBUG=1`` adds the plain traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from parapet.errors import EXIT_INTERNAL
from parapet_cli.cli import command_name
from parapet_cli.generators import slo_rules
from tests.test_cli_gen import SPEC


@pytest.fixture
def broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A valid project whose rule generator raises what no code path foresaw."""
    (tmp_path / "parapet.yaml").write_text(SPEC)

    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("cannot reach postgresql://app:s3cret@db/app\n[bold]second line[/bold]")

    monkeypatch.setattr(slo_rules, "generate", boom)
    monkeypatch.delenv("PARAPET_DEBUG", raising=False)
    return tmp_path


def test_unexpected_exception_is_one_line(cli, broken: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("gen", "slo", "--spec", str(broken / "parapet.yaml"))
    assert result.exit_code == EXIT_INTERNAL == 70
    lines = result.stderr.splitlines()
    assert lines[0] == (
        "error: internal error in parapet gen slo: RuntimeError: cannot reach postgresql://app:***@db/app "
        "[bold]second line[/bold]"
    )
    assert lines[1].startswith("hint: ") and "PARAPET_DEBUG=1" in lines[1]
    assert len(lines) == 2 and "Traceback" not in result.output and "s3cret" not in result.output
    assert not (broken / "prometheus").exists()


def test_debug_shows_the_traceback(cli, broken: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PARAPET_DEBUG", "1")
    result = cli("gen", "slo", "--spec", str(broken / "parapet.yaml"))
    assert result.exit_code == EXIT_INTERNAL
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "in boom" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: internal error in parapet gen slo: RuntimeError:")


def test_long_messages_are_bounded(cli, broken: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    def boom(*_args: object, **_kwargs: object) -> None:
        raise ValueError("x" * 100_000)

    monkeypatch.setattr(slo_rules, "generate", boom)
    result = cli("gen", "slo", "--spec", str(broken / "parapet.yaml"))
    assert result.exit_code == EXIT_INTERNAL
    assert len(result.stderr.splitlines()[0]) < 400


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["gen", "slo", "--spec", "x"], "parapet gen slo"),
        (["doctor", "cardinality", "src"], "parapet doctor"),
        (["--version"], "parapet"),
        (["archive", "--dry-run"], "parapet archive"),
        (["install", "gen"], "parapet install"),
    ],
)
def test_command_name(argv: list[str], name: str) -> None:
    assert command_name(argv) == name
