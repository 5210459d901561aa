"""``--help`` reads as a user needs it: commands in the order a user meets them, no Python types."""

from __future__ import annotations

import json
import re
from typing import Any

import typer

from parapet_cli.cli import COMMANDS, app

USER_ORDER = ["install", "gen", "doctor", "serve", "worker", "mcp", "archive"]


def _listed(text: str) -> list[str]:
    block = text.split("Commands:", 1)[1]
    return [m.group(1) for m in re.finditer(r"^  (\S+)", block, re.MULTILINE)]


def test_commands_in_the_order_a_user_meets_them(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("--help")
    assert result.exit_code == 0
    listed = _listed(result.stdout)
    assert listed == [name for name, _ in COMMANDS]
    known = [name for name in USER_ORDER if name in listed]
    assert known == [name for name in listed if name in USER_ORDER], "a command moved out of the user's order"
    assert listed[:3] == ["install", "gen", "doctor"] and listed[-1] == "archive"


def _commands(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    sub: dict[str, Any] = getattr(command, "commands", {})
    return [prefix, *(p for name, c in sub.items() for p in _commands(c, (*prefix, name)))]


PYTHON_TYPE = re.compile(r"<(list|tuple|dict|set|str|int|float|bool|Path)\b|range>|\[(str|int|Path)\]|<[^>]*\bNone\b")


def test_help_shows_no_python_types(cli) -> None:  # type: ignore[no-untyped-def]
    commands = _commands(typer.main.get_command(app))
    assert ("doctor",) in commands and ("gen", "slo") in commands
    for words in commands:
        result = cli(*words, "--help")
        assert result.exit_code == 0, (words, result.output)
        found = PYTHON_TYPE.findall(result.stdout)
        assert not found, f"parapet {' '.join(words)} --help shows Python types {found}:\n{result.stdout}"


def test_gen_format_help_says_one_thing(cli) -> None:  # type: ignore[no-untyped-def]
    for words in (("gen", "slo"), ("gen", "dashboards"), ("gen", "spine"), ("install",)):
        text = " ".join(cli(*words, "--help").stdout.split())
        assert "--format <text|json> The plan as text (on stderr) or as JSON (on stdout)." in text


def test_doctor_takes_paths_positionally(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "m.py").write_text(
        'from prometheus_client import Counter\nC = Counter("c_total", "C.", ["user_id"])\n'
    )
    (tmp_path / "other.py").write_text(
        'from prometheus_client import Counter\nD = Counter("d_total", "D.", ["email"])\n'
    )
    result = cli("doctor", "cardinality", "src/", "--format", "json", "--no-cache")
    assert result.exit_code in (0, 1), result.output
    paths = {f["path"] for f in json.loads(result.stdout)["findings"] if f["rule"].startswith("PAR4")}
    assert paths == {"src/m.py"}
    same = cli("doctor", "src/", "--select", "cardinality", "--format", "json", "--no-cache")
    assert json.loads(same.stdout)["findings"] == json.loads(result.stdout)["findings"]
    unknown = cli("doctor", "cardinalty", "src/")
    assert unknown.exit_code == 2
    assert unknown.stderr.splitlines()[0] == "error: 'cardinalty' is neither a path nor a check"
    missing = cli("doctor", "cardinality", "sr/")
    assert missing.exit_code == 2 and missing.stderr.startswith("error: no such file or directory: sr/")
    none_left = cli("doctor", "--select", "PAR401", "--ignore", "cardinality")
    assert none_left.exit_code == 2 and "leaves no check to run" in none_left.stderr
