"""``parapet install`` on every Alembic layout, then ``alembic upgrade head`` and ``alembic check`` in each.

The hosts (tests/install/alembic_hosts.py) cover relative and ``%(here)s`` script locations, an ini below
the root, ``[tool.alembic]`` in pyproject.toml (alone and beside an ini), ``version_locations``,
``recursive_version_locations``, a ``package:dir`` script location, Flask-Migrate's ini inside the script
directory, and a monorepo with the service in ``backend/`` installed from the repository's root. Then the
refusals: each one line ``error:`` naming the file, a ``hint:``, exit 3, and the tree unchanged.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from parapet_cli.generators import spine
from tests.conftest import tree_hash
from tests.install.alembic_hosts import FIRST, LAYOUTS, Layout, build, install_without_host_deps, upgrade_and_check

SPINE = "parapet_0001_evidence_spine.py"
LAST = spine.REVISIONS[max(spine.REVISIONS)][0]  # the newest schema version's revision: the head after install


def _tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


@pytest.mark.parametrize("layout", LAYOUTS, ids=[layout.name for layout in LAYOUTS])
def test_install_then_upgrade_and_check(cli, tmp_path: Path, layout: Layout) -> None:  # type: ignore[no-untyped-def]
    root = build(tmp_path / "host", layout)
    result = cli("install", str(root))
    assert result.exit_code == 0, result.output
    versions = layout.expect_versions or f"{layout.script_dir}/{layout.versions}"
    revision = root / versions / SPINE
    assert revision.is_file(), sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py"))
    expected_down = "b2c3d4e5f6a1" if layout.expect_versions else "a1b2c3d4e5f6"
    assert f"down_revision = {expected_down!r}" in revision.read_text()
    env = (root / layout.script_dir / "env.py").read_text()
    assert "from parapet.evidence.alembic import include_name" in env
    assert env.count("include_name=include_name") == 2

    database = tmp_path / "host.db"
    done = upgrade_and_check(root, layout, database)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No new upgrade operations detected" in done.stdout + done.stderr
    if not layout.flask_migrate:
        heads = [line for line in done.stdout.splitlines() if line.endswith("(head)")]
        assert len(heads) == 1 and heads[0].startswith(f"{LAST} "), done.stdout
    assert {"items", "parapet_incidents", "alembic_version"} <= _tables(database)

    before = tree_hash(root)  # a second run is identical
    again = cli("install", str(root))
    assert again.exit_code == 0, again.output
    assert tree_hash(root) == before


def test_monorepo_finds_the_service_and_the_root_compose(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    layout = next(item for item in LAYOUTS if item.name == "monorepo_backend")
    root = build(tmp_path / "repo", layout)
    plan = cli("install", str(root), "--plan", "--with", "compose")
    assert plan.exit_code == 0, plan.output
    assert "framework: fastapi (backend/app/main.py)" in plan.stderr
    assert "schema tool: alembic (backend/alembic.ini)" in plan.stderr
    assert "compose.yml" in plan.stderr and "backend/Dockerfile" in plan.stderr
    assert "service backend of compose.yml" in plan.output or "backend:8000" in plan.output


def test_several_configurations_choose_the_one_naming_the_metadata(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    main = next(item for item in LAYOUTS if item.name == "nested_ini")
    root = build(tmp_path / "host", main)
    # A shallower scratch environment whose env.py names no metadata: not the host's.
    scratch = Layout("scratch", {"alembic.ini": "[alembic]\nscript_location = scratch\n"}, "scratch")
    build(root, scratch, metadata="None")
    result = cli("install", str(root))
    assert result.exit_code == 0, result.output
    assert (root / "service/db/versions" / SPINE).is_file()
    assert not (root / "scratch/versions" / SPINE).exists()
    assert "chose service/alembic.ini (its env.py sets target_metadata = _metadata)" in result.output
    assert "left alone: alembic.ini" in result.output


def _refused(cli, root: Path, *needles: str) -> None:  # type: ignore[no-untyped-def]
    before = tree_hash(root)
    result = cli("install", str(root))
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and any(line.startswith("hint: ") for line in result.output.splitlines()), result.output
    for needle in needles:
        assert needle in errors[0], errors[0]
    assert tree_hash(root) == before


LAYOUT = LAYOUTS[0]  # relative script_location, at the root


def test_several_heads_are_refused(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = build(tmp_path / "host", LAYOUT)
    other = FIRST.replace("a1b2c3d4e5f6", "ffff00001111").replace("= None\nbranch", "= 'a1b2c3d4e5f6'\nbranch", 1)
    (root / "migrations/versions/ffff00001111_b.py").write_text(other)
    (root / "migrations/versions/eeee00001111_c.py").write_text(other.replace("ffff00001111", "eeee00001111"))
    _refused(cli, root, "alembic.ini", "2 heads (eeee00001111, ffff00001111)")


@pytest.mark.parametrize(
    ("case", "edit", "needles"),
    [
        ("missing_dir", {"alembic.ini": "[alembic]\nscript_location = nowhere\n"}, ("alembic.ini", "nowhere")),
        ("bad_ini", {"alembic.ini": "[alembic]\nscript_location\n  = = \n[x\n"}, ("alembic.ini",)),
        ("bad_here", {"alembic.ini": "[alembic]\nscript_location = %(there)s/m\n"}, ("alembic.ini", "script_location")),
        (
            "computed_down_revision",
            {"migrations/versions/a1b2c3d4e5f6_items.py": FIRST.replace("= None\nbranch", "= PARENT\nbranch", 1)},
            ("a1b2c3d4e5f6_items.py:12:50:", "down_revision"),
        ),
        (
            "syntax_error",
            {"migrations/versions/zz_broken.py": "revision = 'zz'\ndef (:\n"},
            ("zz_broken.py:2", "does not parse"),
        ),
        (
            "no_revision",
            {"migrations/versions/helpers.py": "def helper():\n    return 1\n"},
            ("helpers.py", "revision"),
        ),
        (
            "duplicate",
            {"migrations/versions/copy_items.py": FIRST},
            ("a1b2c3d4e5f6", "also declared"),
        ),
        (
            "unknown_parent",
            {"migrations/versions/a1b2c3d4e5f6_items.py": FIRST.replace("= None\nbranch", "= 'gone'\nbranch", 1)},
            ("a1b2c3d4e5f6_items.py", "'gone'"),
        ),
        (
            "resource_not_here",
            {"alembic.ini": "[alembic]\nscript_location = notapkg:migrations\n"},
            ("alembic.ini", "notapkg"),
        ),
    ],
)
def test_bad_layouts_are_one_line_errors(cli, tmp_path: Path, case: str, edit: dict[str, str], needles) -> None:  # type: ignore[no-untyped-def]
    root = build(tmp_path / "host", LAYOUT)
    for rel, text in edit.items():
        (root / rel).write_text(text)
    _refused(cli, root, *needles)


# Install reads the host's migrations and never runs them: a host whose env.py and migrations import a
# package that is not installed (SQLModel, as in the full-stack FastAPI template), and whose migration
# would leave a file behind if it ran, installs in an interpreter where Alembic is blocked too.
def test_install_never_imports_host_code(tmp_path: Path) -> None:
    import importlib.util

    assert importlib.util.find_spec("sqlmodel") is None, "this test needs an environment without SQLModel"
    layout = next(item for item in LAYOUTS if item.name == "monorepo_backend")
    root = build(tmp_path / "repo", layout)
    env_py = root / "backend/app/alembic/env.py"
    env_py.write_text("import sqlmodel\n" + env_py.read_text())
    first = root / "backend/app/alembic/versions/a1b2c3d4e5f6_items.py"
    first.write_text(
        "import pathlib\npathlib.Path(__file__).with_name('EXECUTED').touch()\nimport sqlmodel.sql.sqltypes\n"
        + first.read_text()
    )
    done = install_without_host_deps(tmp_path, str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "loaded: []" in done.stdout
    assert (root / "backend/app/alembic/versions" / SPINE).is_file()
    assert not (first.parent / "EXECUTED").exists()
