"""The host projects of tests/fixtures/hosts, copied and unwired, and the commands that exercise a copy.

The fixtures are checked in with their HTTP wiring in place (tests/metrics imports them as a host runs
them); ``unwired`` copies one and removes the lines ``parapet install`` adds, so a test installs from scratch.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import FIXTURES, ROOT

HOSTS = FIXTURES / "hosts"
NAMES = ("django_shop", "fastapi_shop", "flask_shop")
STRIP = {
    "fastapi_shop": {"shop_fastapi/app.py": ("ParapetMiddleware", "metrics_asgi_app", "parapet install` adds")},
    "flask_shop": {"shop_flask.py": ("instrument_flask", "parapet install` adds")},
    "django_shop": {
        "shopsite/settings.py": ("parapet.metrics.django.ParapetMiddleware", "parapet.contrib.django"),
        "shopsite/urls.py": ("metrics_view",),
    },
}
# The host's own test command, run in its directory.
HOST_TESTS = {
    "fastapi_shop": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
    "flask_shop": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
    "django_shop": [sys.executable, "manage.py", "test", "-v", "1"],
}
# One request through the app, then the scrape on stdout (exit 1 when /metrics is not served).
SCRAPE = {
    "fastapi_shop": (
        "from fastapi.testclient import TestClient\n"
        "from shop_fastapi import app\nfrom shop_fastapi.tasks import celery_app\n"
        "celery_app.conf.task_always_eager = True\n"
        "c = TestClient(app)\nassert c.get('/items/1').status_code == 200\n"
        "if c.get('/metrics').status_code != 200: raise SystemExit(1)\n"
        "assert c.post('/checkout').status_code == 201\n"
        "print(c.get('/metrics').text)\n"
    ),
    "flask_shop": (
        "import shop_flask\nc = shop_flask.app.test_client()\n"
        "assert c.get('/items/1', buffered=True).status_code == 200\n"
        "r = c.get('/metrics')\nif r.status_code != 200: raise SystemExit(1)\nprint(r.get_data(as_text=True))\n"
    ),
    "django_shop": (
        "import django\ndjango.setup()\nfrom django.test import Client\nc = Client()\n"
        "assert c.get('/api/items/1/').status_code == 200\n"
        "if c.get('/metrics').status_code != 200: raise SystemExit(1)\n"
        "assert c.post('/checkout/').status_code == 201\n"
        "print(c.get('/metrics').content.decode())\n"
    ),
}


def unwired(name: str, tmp_path: Path) -> Path:
    host = tmp_path / name
    shutil.copytree(HOSTS / name, host, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3", "*.db"))
    for rel, needles in STRIP[name].items():
        path = host / rel
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(line for line in lines if not any(n in line for n in needles)))
    return host


def host_env(host: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PROMETHEUS_MULTIPROC"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(host), str(ROOT / "src")]),
        PYTHONDONTWRITEBYTECODE="1",
        DJANGO_SETTINGS_MODULE="shopsite.settings",
    )
    env.update(extra)
    return env


def run(host: Path, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=host, env=host_env(host, **env), capture_output=True, text=True, timeout=300, check=False
    )


def scrape(name: str, host: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run(host, [sys.executable, "-c", SCRAPE[name]], **env)


def startproject(parent: Path) -> Path:
    """A fresh ``django-admin startproject mysite .`` under ``parent/site``."""
    site = parent / "site"
    site.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", "."],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return site
