"""Codemod output that looks hand-written: lists and calls keep their layout, strings their quotes, and
added imports land where the host's import sorter (ruff's isort rules, defaults) would put them.

Each host's imports are first sorted by ``ruff check --select I --fix`` (as a host running ruff has them);
after ``parapet install`` the same check finds nothing to change in any file install edited.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT
from tests.install.hosts import host_env, startproject, unwired

RUFF = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")


def _ruff(cwd: Path, *args: str, isolated: bool = True) -> subprocess.CompletedProcess[str]:
    flags = ["--isolated"] if isolated else []
    return subprocess.run(
        [RUFF, "check", *flags, "--select", "I", "--output-format", "concise", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _install_keeps_imports_sorted(cli, host: Path, *, isolated: bool = True) -> list[str]:  # type: ignore[no-untyped-def]
    sort = _ruff(host, "--fix", ".", isolated=isolated)
    assert "error" not in sort.stderr.lower(), sort.stderr
    with contextlib.chdir(host):  # the plan prints paths relative to the current directory
        result = cli("install", str(host))
    assert result.exit_code == 0, result.output
    edited = [line.split()[-1] for line in result.output.splitlines() if line.strip().startswith("update ")]
    edited = [path for path in edited if path.endswith(".py")]
    assert edited, result.output
    check = _ruff(host, *edited, isolated=isolated)
    assert check.returncode == 0, check.stdout + check.stderr
    return edited


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return startproject(tmp_path)


def test_fresh_django_startproject(cli, site: Path) -> None:  # type: ignore[no-untyped-def]
    urls = (site / "mysite/urls.py").read_text()
    assert "urlpatterns = [\n    path('admin/', admin.site.urls),\n]\n" in urls  # what Django writes
    edited = _install_keeps_imports_sorted(cli, site)
    assert sorted(edited) == ["mysite/settings.py", "mysite/urls.py"]
    urls = (site / "mysite/urls.py").read_text()
    assert "urlpatterns = [\n    path('admin/', admin.site.urls),\n    path('metrics', metrics_view),\n]\n" in urls
    assert "from django.urls import path\nfrom parapet.metrics.django import metrics_view\n\nurlpatterns" in urls
    settings = (site / "mysite/settings.py").read_text()
    assert "    'django.contrib.staticfiles',\n    'parapet.contrib.django',\n]\n" in settings
    assert (
        "    'django.middleware.security.SecurityMiddleware',\n"
        "    'parapet.metrics.django.ParapetMiddleware',\n"
        "    'django.contrib.sessions.middleware.SessionMiddleware',\n"
    ) in settings
    check = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=site,
        env=host_env(site, DJANGO_SETTINGS_MODULE="mysite.settings"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("name", ["fastapi_shop", "flask_shop", "django_shop"])
def test_host_fixtures(cli, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    host = unwired(name, tmp_path)
    edited = _install_keeps_imports_sorted(cli, host)
    if name == "fastapi_shop":
        env = (host / "migrations/env.py").read_text()
        # a call that no longer fits on its line is laid out as ruff format would
        assert (
            "        context.configure(\n            connection=connection,\n"
            "            target_metadata=target_metadata,\n            include_name=include_name,\n        )\n"
        ) in env
    assert edited


def test_monorepo_template_keeps_its_own_ruff_configuration(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "template"
    shutil.copytree(FIXTURES / "upstream" / "full-stack-fastapi-template", repo)
    backend = repo / "backend"
    for module in ("__init__", "models", "crud", "api/__init__", "api/main", "core/__init__", "core/config"):
        stub = backend / "app" / f"{module}.py"
        stub.parent.mkdir(exist_ok=True)
        stub.touch()  # the excerpt leaves them out; ruff resolves first-party by file
    edited = ["app/main.py", "app/core/db.py", "app/alembic/env.py"]
    assert _ruff(backend, *edited, isolated=False).returncode == 0  # sorted under the template's own config
    result = cli("install", str(repo))
    assert result.exit_code == 0, result.output
    check = _ruff(backend, *edited, isolated=False)
    assert check.returncode == 0, check.stdout + check.stderr
    main = (backend / "app/main.py").read_text()
    assert main.startswith("import os\nfrom pathlib import Path\n\nimport sentry_sdk\nfrom fastapi import FastAPI\n")
    assert "from parapet.metrics.asgi import ParapetMiddleware\nfrom starlette.middleware.cors" in main
    env = (backend / "app/alembic/env.py").read_text()
    assert (
        "    context.configure(\n        url=url,\n        target_metadata=target_metadata,\n"
        "        literal_binds=True,\n        compare_type=True,\n        include_name=include_name,\n    )\n"
    ) in env


def test_example_imports_are_sorted() -> None:
    """examples/shop is committed as install writes it, and ruff (its own configuration) keeps it."""
    check = _ruff(ROOT / "examples" / "shop", ".", isolated=False)
    assert check.returncode == 0, check.stdout + check.stderr
