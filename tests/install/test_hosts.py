"""``parapet install`` end to end on each real host (FastAPI with Alembic and Celery, Django with its
migrations, Flask with no schema tool), copied to a temporary directory and unwired first.

After the install: the host's own tests still pass, its app serves ``/metrics`` with the contract's series,
the evidence spine's migration applies next to the host's, promtool accepts the rules and passes their
tests, a second run is all ``identical`` and changes no byte, and ``--check`` follows the spec.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from tests.conftest import run_promtool, tree_hash
from tests.install.hosts import HOST_TESTS, NAMES, run, scrape, unwired
from tests.metrics.scrape import HTTP_FAMILIES, assert_contract, families, total

pytestmark = pytest.mark.promtool

SPINE_TABLES = {
    "parapet_incidents",
    "parapet_timeline_entries",
    "parapet_tool_audits",
    "parapet_action_claims",
    "parapet_system_events",
    "parapet_alert_instances",
    "parapet_webhook_deliveries",
}
HOST_TABLES = {"fastapi_shop": "orders", "django_shop": "orders_order"}
JOB_FAMILIES = ("parapet_job_duration_seconds", "parapet_job_last_success_timestamp_seconds")
DB_FAMILIES = ("db_client_operation_duration_seconds",)


def tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def migrate(name: str, host: Path, database: Path) -> None:
    """Apply the host's schema with the evidence spine, the host's own way."""
    if name == "fastapi_shop":
        env = {"SHOP_DATABASE_URL": f"sqlite:///{database}"}
        done = run(host, [sys.executable, "-m", "alembic", "upgrade", "head"], **env)
        assert done.returncode == 0, done.stderr
        # Parapet's revision chains onto the host's, and autogenerate leaves the spine's tables alone.
        history = run(host, [sys.executable, "-m", "alembic", "history"], **env)
        assert "3f2a1c9d0b7e -> parapet_0001," in history.stdout, history.stdout + history.stderr
        assert "parapet_0001 -> parapet_0002," in history.stdout, history.stdout + history.stderr
        assert "parapet_0002 -> parapet_0003 (head)" in history.stdout, history.stdout + history.stderr
        check = run(host, [sys.executable, "-m", "alembic", "check"], **env)
        assert check.returncode == 0, check.stdout + check.stderr
    elif name == "django_shop":
        done = run(host, [sys.executable, "manage.py", "migrate", "-v", "1"])
        assert done.returncode == 0, done.stderr
        assert "Applying parapet.0001_initial... OK" in done.stdout
        assert "Applying parapet.0002_alert_intake... OK" in done.stdout
        assert "Applying parapet.0003_operating_loop... OK" in done.stdout
    else:  # no schema tool: the plain SQL file
        with sqlite3.connect(database) as conn:
            conn.executescript((host / "sql/parapet_spine.sqlite.sql").read_text())
            conn.executescript((host / "sql/parapet_spine_0002.sqlite.sql").read_text())
            conn.executescript((host / "sql/parapet_spine_0003.sqlite.sql").read_text())
    assert tables(database) >= SPINE_TABLES
    if name in HOST_TABLES:
        assert HOST_TABLES[name] in tables(database)


@pytest.mark.parametrize("name", NAMES)
def test_install_end_to_end(cli, promtool: str, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    host = unwired(name, tmp_path)
    database = host / "db.sqlite3" if name == "django_shop" else tmp_path / "shop.db"
    env = {"SHOP_DATABASE_URL": f"sqlite:///{database}"}
    assert scrape(name, host, **env).returncode == 1  # not wired yet: no /metrics

    result = cli("install", str(host))
    assert result.exit_code == 0, result.output
    assert "conflict" not in result.stderr and "Traceback" not in result.output
    spec = host / "parapet.yaml"
    assert "pack: web" in spec.read_text()
    service = host.name.replace("_", "-")
    assert (host / "grafana/dashboards" / service / "overview.json").exists()
    code = "".join(p.read_text() for p in host.rglob("*.py"))
    assert "parapet: managed" in code or "parapet.metrics.django.ParapetMiddleware" in code

    # The host's own tests still pass (the FastAPI host's run the chained Alembic migrations).
    own = run(host, HOST_TESTS[name])
    assert own.returncode == 0, own.stdout + own.stderr

    # The migration applies, then one request and a scrape show the contract's series.
    migrate(name, host, database)
    served = scrape(name, host, **env)
    assert served.returncode == 0, served.stderr
    found = families(served.stdout)
    assert_contract(found, HTTP_FAMILIES)
    assert total(found, "http_server_request_duration_seconds_count") >= 1
    if name == "fastapi_shop":  # the engine and the Celery app were instrumented too
        assert_contract(found, DB_FAMILIES + JOB_FAMILIES)
        assert total(found, "db_client_operation_duration_seconds_count", db_operation_name="INSERT") >= 1
        task = "shop_fastapi.tasks.send_order_confirmation"
        assert total(found, "parapet_job_duration_seconds_count", task=task, outcome="success") == 1

    # promtool accepts the generated rules and passes their generated tests.
    rules_dir = host / "prometheus/rules"
    rules = sorted(p.name for p in rules_dir.glob("*.rules.yml"))
    assert rules
    check = run_promtool(promtool, "check", "rules", *rules, cwd=rules_dir)
    assert check.returncode == 0, check.stdout + check.stderr
    for test_file in sorted(p.name for p in rules_dir.glob("*.test.yml")):
        tested = run_promtool(promtool, "test", "rules", test_file, cwd=rules_dir)
        assert tested.returncode == 0, tested.stdout + tested.stderr

    # A second run: everything identical, no byte changed.
    before = tree_hash(host)
    again = cli("install", str(host))
    assert again.exit_code == 0, again.output
    assert "identical" in again.stderr
    for label in ("create", "update", "conflict", "delete"):
        assert f" {label} " not in again.stderr, again.stderr
    assert tree_hash(host) == before

    # --check: clean now, drift after a spec edit, clean again after a run.
    assert cli("install", str(host), "--check").exit_code == 0
    assert tree_hash(host) == before
    spec.write_text(spec.read_text().replace("  - pack: web", "  - pack: web\n    availability: 99.5"))
    drift = cli("install", str(host), "--check")
    assert drift.exit_code == 1 and "out of date" in drift.stderr
    assert cli("install", str(host)).exit_code == 0
    assert cli("install", str(host), "--check").exit_code == 0
