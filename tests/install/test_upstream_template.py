"""The two failures seen on the public full-stack FastAPI template (a monorepo: the service in ``backend/``),
reproduced on an excerpt of it (tests/fixtures/upstream/full-stack-fastapi-template, pinned commit in its
README):

- from the repository's root, ``script_location = app/alembic`` (relative) was read against the current
  directory (``Path doesn't exist: app/alembic``);
- from ``backend/``, Alembic's script directory imported every migration, which needs SQLModel: install
  died with ``ModuleNotFoundError: No module named 'sqlmodel'`` where only Parapet is installed.

Both runs happen in a fresh interpreter where importing ``sqlmodel``, ``alembic`` or the host's ``app``
package fails, the way a pipx-installed Parapet or a CI image without the host's dependencies sees it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.install.alembic_hosts import install_without_host_deps

TEMPLATE = FIXTURES / "upstream" / "full-stack-fastapi-template"
HEAD = "fe56fa70289e"  # the template's last revision at the pinned commit


def _install(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = install_without_host_deps(cwd, *args)
    assert "loaded: []" in done.stdout, done.stdout
    return done


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    copy = tmp_path / "full-stack-fastapi-template"
    shutil.copytree(TEMPLATE, copy)
    return copy


def _installed(backend: Path) -> None:
    spine = backend / "app/alembic/versions/parapet_0001_evidence_spine.py"
    assert f"down_revision = {HEAD!r}" in spine.read_text()
    env = (backend / "app/alembic/env.py").read_text()
    assert "from parapet.evidence.alembic import include_name" in env
    assert env.count("include_name=include_name") == 2
    assert "app.add_middleware(ParapetMiddleware)" in (backend / "app/main.py").read_text()
    assert "instrument_engine(engine)" in (backend / "app/core/db.py").read_text()


def test_from_the_repository_root(repo: Path) -> None:
    plan = _install(repo, "--plan", "--with", "compose")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "framework: fastapi (backend/app/main.py)" in plan.stderr
    assert "schema tool: alembic (backend/alembic.ini)" in plan.stderr
    assert "compose.yml" in plan.stderr and "compose.override.yml" in plan.stderr
    done = _install(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    _installed(repo / "backend")
    assert (repo / "parapet.yaml").is_file()


def test_from_backend_without_the_hosts_dependencies(repo: Path) -> None:
    backend = repo / "backend"
    done = _install(backend)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    _installed(backend)
    again = _install(backend, "--check")
    assert again.returncode == 0, again.stdout + again.stderr
