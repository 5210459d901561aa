"""A warm ``parapet doctor`` (every file a cache hit) pays only for what it uses: libcst, prometheus_client and
SQLAlchemy are never imported, and the findings are those of the cold run.

Each run is the command a user types, in a fresh interpreter; a small runner prints the modules that interpreter
imported, so the test sees what a real run imports, not what the test process already holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# Runs ``parapet ARGS…`` in this interpreter, then writes the names of every imported module to the file named
# by the first argument.
RUNNER = """
import json, sys
out = sys.argv.pop(1)
sys.argv[0] = "parapet"
try:
    from parapet_cli.cli import main
    main()
finally:
    with open(out, "w", encoding="utf-8") as f:
        json.dump(sorted(sys.modules), f)
"""

HEAVY = ("libcst", "prometheus_client", "sqlalchemy")

TREE = {
    "docker-compose.yml": (
        "services:\n  web:\n    build: .\n    command: gunicorn shop.wsgi --workers 4\n    deploy:\n      replicas: 2\n"
    ),
    "Dockerfile": "FROM python:3.12-slim\nCOPY . /app\nCMD gunicorn shop.wsgi\n",
    "shop/__init__.py": "",
    "shop/settings.py": (
        'INSTALLED_APPS = ["django.contrib.auth", "shop"]\n'
        'DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "/data/db.sqlite3"}}\n'
    ),
    "shop/metrics.py": (
        "from prometheus_client import Counter\n"
        'LOGINS = Counter("shop_logins_total", "Logins.", ["user_id"])\n'
        "\n"
        "def login(user):\n"
        "    LOGINS.labels(user_id=str(user.id)).inc()\n"
    ),
    "shop/views.py": "def index(request):\n    return None\n",
}


def _doctor(root: Path, cache: Path, probe: Path) -> tuple[dict[str, Any], set[str]]:
    env = {k: v for k, v in os.environ.items() if k != "PARAPET_DATABASE_URL"}
    env["PARAPET_CACHE_DIR"] = str(cache)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env["PYTHONPATH"]]) if env.get("PYTHONPATH") else src
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(probe), "doctor", "--root", str(root), "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    modules = {name.split(".")[0] for name in json.loads(probe.read_text())}
    return json.loads(done.stdout), modules


def test_a_warm_doctor_imports_no_parser_and_finds_the_same(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    for rel, text in TREE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    cache = tmp_path / "cache"
    cold, cold_modules = _doctor(root, cache, tmp_path / "cold.json")
    rules = {f["rule"] for f in cold["findings"]}
    # the cold run analysed the metrics module with libcst and found both kinds of problem
    assert {"PAR103", "PAR402"} <= rules, rules
    assert "libcst" in cold_modules
    warm, warm_modules = _doctor(root, cache, tmp_path / "warm.json")
    assert sorted(warm_modules & set(HEAVY)) == []
    assert warm["findings"] == cold["findings"]
    # a changed module is analysed again (the cache is per file), and only then is libcst imported
    (root / "shop" / "metrics.py").write_text(TREE["shop/metrics.py"].replace("user_id", "outcome"))
    changed, changed_modules = _doctor(root, cache, tmp_path / "changed.json")
    assert "libcst" in changed_modules
    assert "PAR402" not in {f["rule"] for f in changed["findings"]}
