"""``--help`` reads as a user needs it: commands in the order a user meets them, no Python types."""

from __future__ import annotations

import re

from parapet_cli.cli import COMMANDS

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
