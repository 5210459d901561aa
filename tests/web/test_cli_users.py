"""`parapet users add` and `list`: argon2id hashes in a 0600 file, never a plain password or a hash shown."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest

from parapet.web.identity import Role, User, UsersFile


def test_add_then_list(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / ".parapet" / "users"
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    result = cli("users", "add", "alice", "--role", "admin", "--users-file", str(path), "--password-stdin")
    assert result.exit_code == 0, result.output
    assert f"added alice (admin) in {path}" in result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and "$argon2id$" in path.read_text()
    assert UsersFile(path).verify("alice", "a long enough password") == User("alice", Role.ADMIN)
    listed = cli("users", "list", "--users-file", str(path))
    assert listed.exit_code == 0 and listed.stdout == "alice admin\n" and "argon2" not in listed.output


@pytest.mark.parametrize(
    ("args", "stdin", "error", "hint"),
    [
        (["--role", "boss"], "a long enough password\n", "error: unknown role 'boss'", "hint: use viewer"),
        ([], "short\n", "error: the password is 5 characters long", "hint: use at least 12 characters"),
    ],
)
def test_bad_input_is_one_error_and_writes_nothing(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], stdin: str, error: str, hint: str
) -> None:
    path = tmp_path / "users"
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    result = cli("users", "add", "bob", *args, "--users-file", str(path), "--password-stdin")
    assert result.exit_code == 3 and error in result.stderr and hint in result.stderr
    assert "Traceback" not in result.output and not path.exists()


def test_a_broken_users_file_is_named_by_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "users"
    path.write_text("# ok\nalice admin\n")
    result = cli("users", "list", "--users-file", str(path))
    assert result.exit_code == 3
    assert f"error: {path}:2:1: a user line has 2 fields, expected 3 (name role hash)" in result.stderr
