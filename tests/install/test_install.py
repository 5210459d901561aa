"""``parapet install`` on real hosts copied to a temporary directory, with their install lines removed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT, tree_hash

HOSTS = FIXTURES / "hosts"
STRIP = {
    "fastapi_shop": {"shop_fastapi.py": ("ParapetMiddleware", "metrics_asgi_app", "parapet install` adds")},
    "flask_shop": {"shop_flask.py": ("instrument_flask", "parapet install` adds")},
    "django_shop": {
        "shopsite/settings.py": ("parapet.metrics.django.ParapetMiddleware",),
        "shopsite/urls.py": ("metrics_view",),
    },
}
SMOKE = {
    "fastapi_shop": (
        "from fastapi.testclient import TestClient\nimport shop_fastapi\n"
        "c = TestClient(shop_fastapi.app)\nassert c.get('/items/1').status_code == 200\n"
        "r = c.get('/metrics')\nassert r.status_code == 200 and 'http_server_request_duration_seconds' in r.text\n"
    ),
    "flask_shop": (
        "import shop_flask\nc = shop_flask.app.test_client()\nassert c.get('/items/1').status_code == 200\n"
        "r = c.get('/metrics')\nassert r.status_code == 200 and b'http_server_request_duration_seconds' in r.data\n"
    ),
    "django_shop": (
        "import django\ndjango.setup()\nfrom django.test import Client\nc = Client()\n"
        "assert c.get('/api/items/1/').status_code == 200\n"
        "r = c.get('/metrics')\nassert r.status_code == 200 and b'http_server_request_duration_seconds' in r.content\n"
    ),
}


def unwired(name: str, tmp_path: Path) -> Path:
    host = tmp_path / name
    shutil.copytree(HOSTS / name, host, ignore=shutil.ignore_patterns("__pycache__"))
    for rel, needles in STRIP[name].items():
        path = host / rel
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(line for line in lines if not any(n in line for n in needles)))
    return host


def smoke(name: str, host: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(host), str(ROOT / "src")])}
    env["DJANGO_SETTINGS_MODULE"] = "shopsite.settings"
    return subprocess.run(
        [sys.executable, "-c", SMOKE[name]], cwd=host, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("name", sorted(STRIP))
def test_install_wires_a_host_and_a_second_run_changes_nothing(cli, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    host = unwired(name, tmp_path)
    assert smoke(name, host).returncode != 0  # not wired yet: no /metrics
    result = cli("install", str(host))
    assert result.exit_code == 0, result.output
    assert (host / "parapet.yaml").exists() and "pack: web" in (host / "parapet.yaml").read_text()
    assert (host / "grafana/dashboards" / host.name.replace("_", "-") / "overview.json").exists()
    code = "".join(p.read_text() for p in host.rglob("*.py"))
    assert "parapet: managed" in code or "parapet.metrics.django.ParapetMiddleware" in code
    done = smoke(name, host)
    assert done.returncode == 0, done.stderr
    before = tree_hash(host)
    again = cli("install", str(host))
    assert again.exit_code == 0, again.output
    assert "create" not in again.stderr and "update" not in again.stderr
    assert tree_hash(host) == before
    assert cli("install", str(host), "--check").exit_code == 0
    spec = host / "parapet.yaml"
    spec.write_text(spec.read_text().replace("  - pack: web", "  - pack: web\n    availability: 99.5"))
    assert cli("install", str(host), "--check").exit_code == 1
    assert cli("install", str(host)).exit_code == 0
    assert cli("install", str(host), "--check").exit_code == 0


def test_plan_prints_detection_and_writes_nothing(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host = unwired("django_shop", tmp_path)
    before = tree_hash(host)
    result = cli("install", str(host), "--plan")
    assert result.exit_code == 0, result.output
    assert "framework: django" in result.stderr and "schema tool: django" in result.stderr
    assert "shopsite/settings.py  (wiring)" in result.stderr
    assert tree_hash(host) == before


def test_hand_edit_is_a_conflict_that_survives_until_force(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host = unwired("flask_shop", tmp_path)
    assert cli("install", str(host)).exit_code == 0
    rules = next((host / "prometheus/rules").glob("*.rules.yml"))
    rules.write_text(rules.read_text() + "# my edit\n")
    result = cli("install", str(host))
    assert result.exit_code == 3 and "conflict" in result.output
    assert rules.read_text().endswith("# my edit\n")
    assert cli("install", str(host), "--force").exit_code == 0
    assert "# my edit" not in rules.read_text()


def test_anchor_not_found_changes_nothing_and_reports_the_lines(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host = unwired("flask_shop", tmp_path)
    app = host / "shop_flask.py"
    app.write_text(app.read_text().replace("app = Flask(__name__)", "app = make_flask(Flask, __name__)"))
    (host / "factory.py").write_text("from flask import Flask\n\nserver = Flask(__name__)  # keeps detection\n")
    source = app.read_text()
    result = cli("install", str(host))
    assert result.exit_code == 0, result.output
    assert app.read_text() == source


@pytest.mark.parametrize("case", ["empty", "syntax", "spec"])
def test_bad_input_exits_3_and_writes_nothing(cli, tmp_path: Path, case: str) -> None:  # type: ignore[no-untyped-def]
    if case == "empty":
        host = tmp_path / "empty"
        host.mkdir()
        (host / "notes.txt").write_text("hello\n")
    else:
        host = unwired("fastapi_shop", tmp_path)
        if case == "syntax":
            app = host / "shop_fastapi.py"
            app.write_text(app.read_text().replace("app = FastAPI()", "app = FastAPI()\n    def broken(:"))
        else:
            (host / "parapet.yaml").write_text("version: parapet/v1\nservice: shop\nslos:\n  - name: x\n")
    before = tree_hash(host)
    result = cli("install", str(host))
    assert result.exit_code == 3, result.output
    assert "error:" in result.stderr and "hint:" in result.stderr
    assert "Traceback" not in result.output
    assert tree_hash(host) == before


def test_example_service(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host = tmp_path / "shop"
    shutil.copytree(ROOT / "examples/shop", host)
    assert cli("install", str(host)).exit_code == 0
    before = tree_hash(host)
    assert cli("install", str(host), "--check").exit_code == 0
    assert tree_hash(host) == before
