"""Small hosts, one per Alembic layout, written from scratch for the layout matrix of ``parapet install``.

Every host is a FastAPI app (so install detects a framework), a SQLAlchemy ``MetaData`` with one table, an
Alembic environment whose ``env.py`` reads ``DATABASE_URL`` and names that metadata, and a first revision
creating the table. A layout says where each piece goes and what the configuration file says.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ROOT

APP = "from fastapi import FastAPI\n\napp = FastAPI()\n"
MODELS = (
    "from sqlalchemy import Column, Integer, MetaData, String, Table\n\n"
    "metadata = MetaData()\n"
    'items = Table("items", metadata, Column("id", Integer, primary_key=True), Column("name", String(50)))\n'
)
ENV = '''"""Alembic environment of a test host."""

import os

from alembic import context
from sqlalchemy import create_engine

{models_import}

target_metadata = {metadata}


def run_migrations_offline() -> None:
    context.configure(url=os.environ["DATABASE_URL"], target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = create_engine(os.environ["DATABASE_URL"])
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
'''
MAKO = (
    '"""${message}\n\nRevision ID: ${up_revision}\nRevises: ${down_revision | comma,n}\n"""\n'
    "from alembic import op\nimport sqlalchemy as sa\n${imports if imports else ''}\n\n"
    "revision = ${repr(up_revision)}\ndown_revision = ${repr(down_revision)}\n"
    "branch_labels = ${repr(branch_labels)}\ndepends_on = ${repr(depends_on)}\n\n\n"
    "def upgrade() -> None:\n    ${upgrades if upgrades else 'pass'}\n\n\n"
    "def downgrade() -> None:\n    ${downgrades if downgrades else 'pass'}\n"
)
FIRST = '''"""items

Revision ID: a1b2c3d4e5f6
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "a1b2c3d4e5f6"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table("items", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("name", sa.String(50)))


def downgrade() -> None:
    op.drop_table("items")
'''
SECOND = '''"""an index, in the second version location

Revision ID: b2c3d4e5f6a1
"""

from alembic import op

revision = "b2c3d4e5f6a1"
down_revision = "a1b2c3d4e5f6"
branch_labels = ("more",)
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
'''


@dataclass(frozen=True)
class Layout:
    """Where the Alembic pieces of a host go (paths relative to the host's root)."""

    name: str
    config: dict[str, str]  # configuration files: path -> text
    script_dir: str  # where env.py, script.py.mako and the first revision go
    run_dir: str = "."  # where `alembic` runs (the configuration's directory)
    versions: str = "versions"  # the first revision's directory, under script_dir
    app_dir: str = "."  # where main.py and models.py go
    extra: dict[str, str] = field(default_factory=dict)  # more files: path -> text
    expect_versions: str = ""  # where Parapet's revision must land, relative to the root
    flask_migrate: bool = False  # no script_location: run Alembic as Flask-Migrate does


INI = "[alembic]\nscript_location = {location}\n{more}"

LAYOUTS = [
    Layout("relative", {"alembic.ini": INI.format(location="migrations", more="")}, "migrations"),
    Layout("here", {"alembic.ini": INI.format(location="%(here)s/migrations", more="")}, "migrations"),
    Layout(
        "nested_ini",
        {"service/alembic.ini": INI.format(location="db", more="")},
        "service/db",
        run_dir="service",
        app_dir="service",
    ),
    Layout(
        "pyproject_only",
        {"pyproject.toml": '[project]\nname = "host"\n\n[tool.alembic]\nscript_location = "%(here)s/alembic"\n'},
        "alembic",
    ),
    Layout(
        "pyproject_and_ini",
        {
            "pyproject.toml": '[tool.alembic]\nscript_location = "%(here)s/alembic"\nprepend_sys_path = ["."]\n',
            "alembic.ini": "[alembic]\nsqlalchemy.url = driver://user:pass@localhost/dbname\n",
        },
        "alembic",
    ),
    Layout(
        "version_locations",
        {
            "alembic.ini": INI.format(
                location="migrations",
                more="version_locations = %(here)s/migrations/versions %(here)s/migrations/more\n"
                "path_separator = space\n",
            )
        },
        "migrations",
        extra={"migrations/more/b2c3d4e5f6a1_index.py": SECOND},
        expect_versions="migrations/more",
    ),
    Layout(
        "recursive",
        {"alembic.ini": INI.format(location="migrations", more="recursive_version_locations = true\n")},
        "migrations",
        versions="versions/2024",
    ),
    Layout(
        "package_resource",
        {"alembic.ini": INI.format(location="svc:migrations", more="prepend_sys_path = .\n")},
        "svc/migrations",
        app_dir="svc",
        extra={"svc/__init__.py": ""},
    ),
    Layout(
        "flask_migrate",
        {"migrations/alembic.ini": "[alembic]\n# template used to generate migration files\n\n[loggers]\nkeys=root\n"},
        "migrations",
        flask_migrate=True,
    ),
    Layout(
        "monorepo_backend",
        {"backend/alembic.ini": INI.format(location="app/alembic", more="")},
        "backend/app/alembic",
        run_dir="backend",
        app_dir="backend/app",
        extra={
            "compose.yml": "services:\n  backend:\n    build:\n      context: .\n      dockerfile: backend/Dockerfile\n"
            '    command: ["fastapi", "run", "--workers", "4", "app/main.py"]\n    ports: ["8000:8000"]\n',
            "backend/Dockerfile": 'FROM python:3.12\nWORKDIR /app/backend\nCMD ["fastapi", "run", "--workers", "4"]\n',
            "backend/app/__init__.py": "",
        },
    ),
]


def build(root: Path, layout: Layout, *, metadata: str = "models.metadata") -> Path:
    """Write the host; returns its root."""
    root.mkdir(parents=True, exist_ok=True)
    files = dict(layout.config)
    package = "app." if layout.name == "monorepo_backend" else "svc." if layout.name == "package_resource" else ""
    models_import = f"from {package}models import metadata as _metadata" if metadata != "None" else ""
    files[f"{layout.app_dir}/main.py"] = APP
    files[f"{layout.app_dir}/models.py"] = MODELS
    files[f"{layout.script_dir}/env.py"] = ENV.format(
        models_import=models_import, metadata="_metadata" if metadata != "None" else "None"
    )
    files[f"{layout.script_dir}/script.py.mako"] = MAKO
    files[f"{layout.script_dir}/{layout.versions}/a1b2c3d4e5f6_items.py"] = FIRST
    files.update(layout.extra)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def alembic_env(root: Path, layout: Layout, database: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    host_path = root / layout.app_dir
    if layout.name in ("monorepo_backend", "package_resource"):
        host_path = host_path.parent
    env.update(
        DATABASE_URL=f"sqlite:///{database}",
        PYTHONPATH=os.pathsep.join([str(host_path), str(ROOT / "src")]),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


_FLASK_MIGRATE = (
    "import sys\nfrom alembic import command\nfrom alembic.config import Config\n"
    "cfg = Config('migrations/alembic.ini')\ncfg.set_main_option('script_location', 'migrations')\n"
    "command.upgrade(cfg, 'head')\ncommand.check(cfg)\n"
)


def upgrade_and_check(root: Path, layout: Layout, database: Path) -> subprocess.CompletedProcess[str]:
    """``alembic upgrade head`` then ``alembic check``, run where the host runs them."""
    if layout.flask_migrate:
        args = [sys.executable, "-c", _FLASK_MIGRATE]
    else:
        code = (
            "import sys\nfrom alembic.config import main\nmain(['upgrade', 'head'])\nmain(['check'])\nmain(['heads'])\n"
        )
        args = [sys.executable, "-c", code]
    return subprocess.run(
        args,
        cwd=root / layout.run_dir,
        env=alembic_env(root, layout, database),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# ``parapet install`` in a fresh interpreter where importing the host's dependencies (SQLModel), Alembic or
# the host's own packages fails, as a pipx-installed Parapet or a CI image without them sees it; the
# modules of those names loaded by the end are printed.
_BLOCKED = ("alembic", "sqlmodel", "models", "app")
_WITHOUT_HOST = f"""
import importlib.abc, sys
BLOCKED = {_BLOCKED!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"parapet install imported {{name}}")
        return None
sys.meta_path.insert(0, Block())
from parapet_cli.cli import run
code = run(["install", *sys.argv[1:]])
print("loaded:", sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
sys.exit(code)
"""


def install_without_host_deps(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_HOST, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
