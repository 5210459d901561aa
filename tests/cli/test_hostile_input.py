"""Every command, on a tree built to make it fail, ends with one ``error:`` line and a non-zero exit, never a
traceback: unreadable files (chmod 0, and a link to /proc/self/mem, whose every read fails even for root), non-UTF-8,
UTF-16 and NUL-bearing text, symlink loops, dangling links, a directory where a file is expected and a file where a
directory is. Every command of ``parapet --help`` must have a case here (a new command adds its own), and
``doctor`` survives the same tree with its bad files as notes."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer

from parapet.errors import EXIT_INTERNAL
from parapet_cli.cli import app
from tests.test_cli_gen import SPEC

Argv = Callable[[Path], list[str]]


def build(root: Path) -> Path:
    """The hostile tree: a host project whose every input is broken in some way."""
    root.mkdir()
    (root / "good.yaml").write_text(SPEC)
    (root / "latin1.yaml").write_bytes(SPEC.replace("api", "caf\xe9").encode("latin-1"))
    (root / "utf16.yaml").write_bytes(SPEC.encode("utf-16"))
    (root / "nul.yaml").write_bytes(b"version: parapet/v1\x00\nservice: api\n")
    (root / "unreadable.yaml").write_text("version: parapet/v1\nservice: api\n")  # no slos: invalid even as root
    (root / "unreadable.yaml").chmod(0)
    # root reads a chmod-0 file anyway: /proc/self/mem opens but every read fails (EIO), for root too
    (root / "eio.yaml").symlink_to("/proc/self/mem")
    (root / "loop1").symlink_to("loop2")
    (root / "loop2").symlink_to("loop1")
    (root / "dangling.yaml").symlink_to("nowhere.yaml")
    (root / "specdir.yaml").mkdir()
    (root / "afile").write_text("a file where a directory is expected\n")
    (root / "alembic.ini").write_bytes(b"[alembic]\nscript_location = caf\xe9\n")
    (root / "baseline.json").write_bytes(b"\xff\xfe{")
    app_dir = root / "app"
    app_dir.mkdir()
    (app_dir / "main.py").write_text(
        "from fastapi import FastAPI\nfrom prometheus_client import Counter\n\napp = FastAPI()\n"
        'HITS = Counter("hits_total", "Hits.", ["user_id"])\n'
    )
    (app_dir / "latin1.py").write_bytes(b'NAME = "caf\xe9"\n')
    (app_dir / "utf16.py").write_bytes("x = 1\n".encode("utf-16"))
    (app_dir / "nul.py").write_bytes(b"x = 1\x00\n")
    (app_dir / "dangling.py").symlink_to("nowhere.py")
    (app_dir / "eio.py").symlink_to("/proc/self/mem")
    (app_dir / "loop.py").symlink_to("loop.py")
    (app_dir / "package.py").mkdir()
    (app_dir / "secret.py").write_text("x = 1\n")
    (app_dir / "secret.py").chmod(0)
    (app_dir / "cycle").symlink_to("..")  # a directory loop: the walk must not follow it forever
    (root / "pyproject.toml").write_bytes(b'[project]\nname = "caf\xe9"\n')
    (root / "compose.yaml").write_bytes(b"services:\n  api:\n    command: gunicorn -w \xff app.main:app\n")
    return root


def _spec_cases(command: list[str]) -> list[tuple[str, Argv]]:
    def spec(name: str) -> Argv:
        return lambda t: [*command, "--spec", str(t / name)]

    return [
        (f"{' '.join(command)} latin-1 spec", spec("latin1.yaml")),
        (f"{' '.join(command)} UTF-16 spec", spec("utf16.yaml")),
        (f"{' '.join(command)} NUL in spec", spec("nul.yaml")),
        (f"{' '.join(command)} unreadable spec", spec("unreadable.yaml")),
        (f"{' '.join(command)} spec whose read fails", spec("eio.yaml")),
        (f"{' '.join(command)} spec is a symlink loop", spec("loop1")),
        (f"{' '.join(command)} spec is a dangling link", spec("dangling.yaml")),
        (f"{' '.join(command)} spec is a directory", spec("specdir.yaml")),
        (
            f"{' '.join(command)} --out is a file",
            lambda t: [*command, "--spec", str(t / "good.yaml"), "--out", str(t / "afile")],
        ),
        (
            f"{' '.join(command)} --out is a symlink loop",
            lambda t: [*command, "--spec", str(t / "good.yaml"), "--out", str(t / "loop1")],
        ),
    ]


CASES: list[tuple[str, Argv]] = [
    ("install into a symlink loop", lambda t: ["install", str(t / "loop1")]),
    ("install into a file", lambda t: ["install", str(t / "afile")]),
    ("install a host whose alembic.ini is latin-1", lambda t: ["install", str(t)]),
    *_spec_cases(["gen", "slo"]),
    *_spec_cases(["gen", "dashboards"]),
    *_spec_cases(["gen", "runbooks"]),
    ("gen spine latin-1 alembic.ini", lambda t: ["gen", "spine", "--alembic-ini", str(t / "alembic.ini")]),
    ("gen spine alembic.ini is a loop", lambda t: ["gen", "spine", "--alembic-ini", str(t / "loop1")]),
    ("gen spine alembic.ini is a directory", lambda t: ["gen", "spine", "--alembic-ini", str(t / "specdir.yaml")]),
    ("gen spine --out is a file", lambda t: ["gen", "spine", "--for", "sql", "--out", str(t / "afile")]),
    ("gen ui into a symlink loop", lambda t: ["gen", "ui", str(t / "loop1")]),
    ("gen ui into a file", lambda t: ["gen", "ui", str(t / "afile")]),
    ("doctor --root is a symlink loop", lambda t: ["doctor", "--root", str(t / "loop1")]),
    ("doctor --root is a file", lambda t: ["doctor", "--root", str(t / "afile")]),
    ("doctor --spec is a symlink loop", lambda t: ["doctor", "--root", str(t / "app"), "--spec", str(t / "loop1")]),
    ("doctor latin-1 baseline", lambda t: ["doctor", "--root", str(t / "app"), "--baseline", str(t / "baseline.json")]),
    ("doctor baseline is a directory", lambda t: ["doctor", "--root", str(t / "app"), "--baseline", str(t / "app")]),
    (
        "doctor cardinality on a dangling path",
        lambda t: ["doctor", "--root", str(t), "cardinality", str(t / "dangling.yaml")],
    ),
    ("doctor cardinality --root is a loop", lambda t: ["doctor", "cardinality", "--root", str(t / "loop1")]),
    ("serve with a spec that loops", lambda t: ["serve", "--spec", str(t / "loop1")]),
    ("serve with a latin-1 spec", lambda t: ["serve", "--spec", str(t / "latin1.yaml")]),
    ("serve with a token file that is a directory", lambda t: ["serve", "--webhook-token-file", str(t / "app")]),
    ("serve with a token file whose read fails", lambda t: ["serve", "--webhook-token-file", str(t / "eio.yaml")]),
    ("worker with a spec whose read fails", lambda t: ["worker", "--once", "--spec", str(t / "eio.yaml")]),
    ("serve with a latin-1 token file", lambda t: ["serve", "--webhook-token-file", str(t / "baseline.json")]),
    ("worker with a latin-1 spec", lambda t: ["worker", "--once", "--spec", str(t / "latin1.yaml")]),
    ("worker with a spec that loops", lambda t: ["worker", "--once", "--spec", str(t / "loop1")]),
    (
        "worker on a database that is a directory",
        lambda t: ["worker", "--once", "--database-url", f"sqlite:///{t}/specdir.yaml"],
    ),
    ("users add to a users file that is a directory", lambda t: ["users", "add", "al", "--users-file", str(t / "app")]),
    (
        "users add to a users file not in UTF-8",
        lambda t: ["users", "add", "al", "--users-file", str(t / "baseline.json")],
    ),
    ("users add to a users file that loops", lambda t: ["users", "add", "al", "--users-file", str(t / "loop1")]),
    ("users list of a latin-1 users file", lambda t: ["users", "list", "--users-file", str(t / "alembic.ini")]),
    ("users list of a dangling users file", lambda t: ["users", "list", "--users-file", str(t / "dangling.yaml")]),
    ("users list of an unreadable users file", lambda t: ["users", "list", "--users-file", str(t / "unreadable.yaml")]),
    (
        "archive into a directory",
        lambda t: ["archive", "--archive-file", str(t / "specdir.yaml"), "--database-url", f"sqlite:///{t}/db.sqlite"],
    ),
    (
        "archive with a latin-1 spec",
        lambda t: ["archive", "--archive-file", str(t / "a.jsonl"), "--spec", str(t / "latin1.yaml")],
    ),
    (
        "archive with a spec that loops",
        lambda t: ["archive", "--archive-file", str(t / "a.jsonl"), "--spec", str(t / "loop1")],
    ),
    ("serve with a token file that loops", lambda t: ["serve", "--webhook-token-file", str(t / "loop1")]),
    (
        "serve with a UTF-16 token file",
        lambda t: ["serve", "--webhook-token-file", str(t / "utf16.yaml"), "--database-url", f"sqlite:///{t}/db"],
    ),
    (
        "serve on a database that is a directory",
        lambda t: ["serve", "--insecure-local", "--database-url", f"sqlite:///{t}/specdir.yaml"],
    ),
    ("worker with a spec that is a directory", lambda t: ["worker", "--once", "--spec", str(t / "specdir.yaml")]),
    ("worker on a database that loops", lambda t: ["worker", "--once", "--database-url", f"sqlite:///{t}/loop1"]),
    ("mcp with a spec that loops", lambda t: ["mcp", "--spec", str(t / "loop1")]),
    ("mcp with a latin-1 spec", lambda t: ["mcp", "--spec", str(t / "latin1.yaml")]),
    ("mcp on a database that is a directory", lambda t: ["mcp", "--database-url", f"sqlite:///{t}/specdir.yaml"]),
    ("mcp on a database that does not exist", lambda t: ["mcp", "--database-url", f"sqlite:///{t}/nowhere.db"]),
    ("mcp on a database that loops", lambda t: ["mcp", "--database-url", f"sqlite:///{t}/loop1"]),
    (
        "mark deploy with a spec that loops",
        lambda t: ["mark", "deploy", "--service", "api", "--version", "1", "--spec", str(t / "loop1")],
    ),
    (
        "mark deploy on a database that is a directory",
        lambda t: [
            "mark",
            "deploy",
            "--service",
            "api",
            "--version",
            "1",
            "--database-url",
            f"sqlite:///{t}/specdir.yaml",
        ],
    ),
    (
        "mark deploy with a link that is not http",
        lambda t: ["mark", "deploy", "--service", "api", "--version", "1", "--url", "javascript:alert(1)"],
    ),
    ("mark flag with a latin-1 spec", lambda t: ["mark", "flag", "--flag", "a", "--spec", str(t / "latin1.yaml")]),
    (
        "mark flag with a spec whose read fails",
        lambda t: ["mark", "flag", "--flag", "a", "--spec", str(t / "eio.yaml")],
    ),
    (
        "archive to a database that loops",
        lambda t: ["archive", "--archive-file", str(t / "a.jsonl"), "--database-url", f"sqlite:///{t}/loop1"],
    ),
]


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("PARAPET_DEBUG", raising=False)
    monkeypatch.setenv("PARAPET_CACHE_DIR", str(tmp_path / "cache"))
    tree = build(tmp_path / "tree")
    monkeypatch.chdir(tmp_path / "tree")
    yield tree
    for path in (tree / "unreadable.yaml", tree / "app" / "secret.py"):
        path.chmod(0o644)  # so that pytest can remove the tree


@pytest.mark.parametrize(("name", "argv"), CASES, ids=[name for name, _ in CASES])
def test_fails_with_one_error_line(cli, hostile: Path, name: str, argv: Argv) -> None:  # type: ignore[no-untyped-def]
    result = cli(*argv(hostile))
    assert "Traceback" not in result.output
    assert result.exit_code not in (0, EXIT_INTERNAL), result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "internal error" not in errors[0]


@pytest.mark.parametrize("argv", [["doctor"], ["doctor", "cardinality"]])
def test_doctor_survives_the_tree(cli, hostile: Path, argv: list[str]) -> None:  # type: ignore[no-untyped-def]
    (hostile / "pyproject.toml").unlink()  # a pyproject.toml that is not UTF-8 is a clear error of its own
    result = cli(*argv, "--format", "json")
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert result.exit_code in (0, 1), result.output


def test_a_directory_link_that_loops_is_not_followed(cli, hostile: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("gen", "ui", str(hostile), "--dry-run")  # app/cycle -> .. : the app is app/main.py, once
    assert result.exit_code == 0, result.output
    assert "update app/main.py" in " ".join(result.stderr.split()) and "cycle" not in result.output


def _leaves(command: Any, prefix: tuple[str, ...] = ()) -> list[str]:
    sub: dict[str, Any] = getattr(command, "commands", {})
    if not sub:
        return [" ".join(prefix)]
    return [leaf for name, c in sub.items() for leaf in _leaves(c, (*prefix, name))]


def test_every_command_has_a_hostile_case() -> None:
    covered = set()
    for _, argv in CASES:
        words = [w for w in argv(Path("/t")) if not w.startswith(("-", "/"))]
        covered.add(" ".join(words[:2]) if words[0] in ("gen", "users", "mark") else words[0])
    leaves = set(_leaves(typer.main.get_command(app)))
    assert leaves <= covered, f"add a hostile case for: {sorted(leaves - covered)}"
    assert os.sep == "/"
