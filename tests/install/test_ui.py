"""``parapet install --with ui`` and ``parapet gen ui``: Parapet's web app mounted at ``/parapet`` in real
hosts (a FastAPI app whose own factory is called ``create_app``, a fresh ``django-admin startproject``
under ASGI), served afterwards; Flask gets a note; ``--eject`` copies the packaged templates through the
plan; a second run is identical and ``--check`` finds a removed mount."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import parapet
from tests.conftest import tree_hash
from tests.install.hosts import host_env, startproject, unwired

TEMPLATES = Path(parapet.__file__).parent / "web" / "templates"
MOUNT = 'app.mount("/parapet", parapet.web.create_app(spec_path="parapet.yaml"))  # parapet: managed'

_SERVE_FASTAPI = (
    "from fastapi.testclient import TestClient\nfrom shop_fastapi.app import app\n"
    "c = TestClient(app)\n"
    "r = c.get('/parapet/healthz')\nassert r.status_code == 200, (r.status_code, r.text)\n"
    "assert c.get('/items/1').status_code == 200\nassert c.get('/metrics').status_code == 200\n"
    "r = c.post('/parapet/webhook', json={})\nprint('webhook', r.status_code)\n"
)
_SERVE_DJANGO = (
    "from starlette.testclient import TestClient\nfrom mysite.asgi import application\n"
    "c = TestClient(application, base_url='http://localhost')\n"
    "r = c.get('/parapet/healthz')\nassert r.status_code == 200, (r.status_code, r.text)\n"
    "r = c.get('/admin/login/')\nassert r.status_code == 200 and 'Django' in r.text, r.status_code\n"
)


def _serve(host: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=host,
        env=host_env(host, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_fastapi_host_with_its_own_create_app(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host = unwired("fastapi_shop", tmp_path)
    app = host / "shop_fastapi/app.py"
    assert "def create_app(" in app.read_text()  # the host's own factory: Parapet's must not shadow it
    result = cli("install", str(host), "--with", "ui")
    assert result.exit_code == 0, result.output
    text = app.read_text()
    assert "\nimport parapet.web\n" in text and "from parapet.web import create_app" not in text
    lines = text.splitlines()
    route = next(i for i, line in enumerate(lines) if "app.add_route" in line)
    assert lines[route + 1].strip() == MOUNT  # after Parapet's own lines, in the factory
    # the starter spec points the webhook at the token file Alertmanager is told to send
    assert "  webhook_token_file: alertmanager/secrets/parapet-webhook-token\n" in (host / "parapet.yaml").read_text()
    assert "reads its bearer token from alertmanager/secrets/parapet-webhook-token" in result.stderr

    served = _serve(host, _SERVE_FASTAPI, PARAPET_DATABASE_URL=f"sqlite:///{tmp_path / 'ui.db'}")
    assert served.returncode == 0, served.stdout + served.stderr

    before = tree_hash(host)
    again = cli("install", str(host), "--with", "ui")
    assert again.exit_code == 0 and tree_hash(host) == before
    assert cli("install", str(host), "--with", "ui", "--check").exit_code == 0

    app.write_text("".join(line + "\n" for line in lines if "parapet.web.create_app" not in line))
    drift = cli("install", str(host), "--with", "ui", "--check")
    assert drift.exit_code == 1 and re.search(r"update \S*shop_fastapi/app\.py\n", drift.stderr), drift.output
    assert cli("gen", "ui", str(host), "--check").exit_code == 1
    assert cli("gen", "ui", str(host)).exit_code == 0
    assert MOUNT in app.read_text()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return startproject(tmp_path)


def test_django_under_asgi(cli, site: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("gen", "ui", str(site))
    assert result.exit_code == 0, result.output
    # no spec says where the webhook's token is: the plan gives the lines to add (gen ui writes no spec)
    assert "alertmanager:\n      webhook_token_file: alertmanager/secrets/parapet-webhook-token" in result.stderr
    assert not (site / "parapet.yaml").exists()
    asgi = (site / "mysite/asgi.py").read_text()
    assert (
        "application = get_asgi_application()\n"
        "application = Starlette(\n"  # in the quotes Django's own asgi.py uses
        "    routes=[Mount('/parapet', create_app(spec_path='parapet.yaml')), Mount('/', application)]\n"
        ")  # parapet: managed\n"
    ) in asgi
    sort = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "I", "mysite/asgi.py"],
        cwd=site,
        capture_output=True,
        text=True,
        check=False,
    )
    assert sort.returncode == 0, sort.stdout
    served = _serve(
        site,
        _SERVE_DJANGO,
        DJANGO_SETTINGS_MODULE="mysite.settings",
        PARAPET_DATABASE_URL=f"sqlite:///{tmp_path / 'ui.db'}",
    )
    assert served.returncode == 0, served.stdout + served.stderr
    before = tree_hash(site)
    assert cli("gen", "ui", str(site)).exit_code == 0 and tree_hash(site) == before


def test_flask_gets_a_note_and_no_change(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host = unwired("flask_shop", tmp_path)
    before = tree_hash(host)
    result = cli("gen", "ui", str(host))
    assert result.exit_code == 0, result.output
    assert "run `parapet serve`" in result.stderr
    assert tree_hash(host) == before


def test_eject_copies_the_templates_through_the_plan(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host = unwired("fastapi_shop", tmp_path)
    result = cli("install", str(host), "--with", "ui", "--eject")
    assert result.exit_code == 0, result.output
    ejected = host / "templates/parapet"
    packaged = sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html"))  # partials too
    assert packaged and sorted(p.relative_to(ejected).as_posix() for p in ejected.rglob("*.html")) == packaged
    for name in packaged:
        assert (ejected / name).read_bytes() == (TEMPLATES / name).read_bytes()
    assert cli("gen", "ui", str(host), "--eject", "--check").exit_code == 0

    queue = host / "templates/parapet/queue.html"
    queue.write_text(queue.read_text() + "<!-- ours -->\n")  # the host's own edit is never overwritten
    again = cli("gen", "ui", str(host), "--eject")
    assert again.exit_code == 3 and "conflict" in again.output, again.output
    assert queue.read_text().endswith("<!-- ours -->\n")
    assert cli("install", str(host)).exit_code == 0  # without --eject the copies are the host's alone
    assert queue.read_text().endswith("<!-- ours -->\n")


def test_gen_ui_without_an_app_is_one_error(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "lib.py").write_text("x = 1\n")
    result = cli("gen", "ui", str(tmp_path))
    assert result.exit_code == 3
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in result.output
