"""examples/shop, README's main command: it is exactly what ``parapet install`` writes, it runs, and
README's set-up command works on it as written."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT, tree_hash
from tests.install.hosts import run
from tests.metrics.scrape import HTTP_FAMILIES, assert_contract, families, total

EXAMPLE = ROOT / "examples" / "shop"
BENCHMARK = ROOT / "benchmarks" / "install.py"
IGNORE = shutil.ignore_patterns("__pycache__", "*.db")


def benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("install_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def committed(root: Path) -> dict[str, str]:
    return {k: v for k, v in tree_hash(root).items() if "__pycache__" not in k and not k.endswith(".db")}


def test_example_is_exactly_what_install_writes(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Unwired, the example is a plain service; one install brings back every committed byte."""
    host = benchmark().copy_example(tmp_path)
    benchmark().unwire(host)
    unwired = tree_hash(host)
    assert not (host / ".parapet").exists() and "parapet: managed" not in (host / "shop/app.py").read_text()
    result = cli("install", str(host))
    assert result.exit_code == 0, result.output
    assert tree_hash(host) == committed(EXAMPLE) != unwired
    again = cli("install", str(host), "--check")
    assert again.exit_code == 0, again.output


def test_example_serves_the_contract_after_its_migrations(tmp_path: Path) -> None:
    host = tmp_path / "shop"
    shutil.copytree(EXAMPLE, host, ignore=IGNORE)
    env = {"SHOP_DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}"}
    upgrade = run(host, [sys.executable, "-m", "alembic", "upgrade", "head"], **env)
    assert upgrade.returncode == 0, upgrade.stderr
    check = run(host, [sys.executable, "-m", "alembic", "check"], **env)  # the spine's tables are filtered out
    assert check.returncode == 0, check.stdout + check.stderr
    script = (
        "from fastapi.testclient import TestClient\nfrom shop.app import app\n"
        "from shop.tasks import celery_app, import_catalogue\ncelery_app.conf.task_always_eager = True\n"
        "import_catalogue.delay()\nc = TestClient(app)\n"
        "assert c.get('/products/1').json() == {'id': 1, 'name': 'kettle'}\n"
        "assert c.post('/checkout').status_code == 201\nprint(c.get('/metrics').text)\n"
    )
    served = run(host, [sys.executable, "-c", script], **env)
    assert served.returncode == 0, served.stderr
    found = families(served.stdout)
    assert_contract(found, (*HTTP_FAMILIES, "db_client_operation_duration_seconds", "parapet_job_duration_seconds"))
    assert total(found, "parapet_journey_events_total", journey="checkout", outcome="success") == 1
    assert total(found, "http_server_request_duration_seconds_count", http_route="/products/{product_id}") == 1
    for task in ("shop.tasks.import_catalogue", "shop.tasks.send_order_confirmation"):
        assert total(found, "parapet_job_duration_seconds_count", task=task, outcome="success") == 1


def readme_setup_command() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Set-up", 1)[1]
    match = re.search(r"```sh\n(.+?)\n```", section, re.S)
    assert match is not None, "README's set-up section has no sh block"
    return match.group(1).strip()


@pytest.mark.promtool
def test_readme_setup_command_runs_as_written(promtool: str, tmp_path: Path) -> None:
    """Everything after the package installs, run in a copy of the repository's examples/."""
    command = readme_setup_command()
    installs = (
        "apt-get update && apt-get install -y prometheus prometheus-alertmanager redis-server chromium "
        "victoria-metrics && "
        "pip install -e '.[dev]' && "
    )
    assert command.startswith(installs), command
    rest = command.removeprefix(installs)
    assert rest.startswith("parapet install examples/shop && "), rest
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=IGNORE)
    before = tree_hash(tmp_path)
    path = os.pathsep.join([str(Path(sys.executable).parent), str(Path(promtool).parent), os.environ["PATH"]])
    env = {**os.environ, "PATH": path, "NO_COLOR": "1", "COLUMNS": "200", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        ["bash", "-c", rest], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "identical" in done.stderr and "SUCCESS" in done.stdout
    assert tree_hash(tmp_path) == before  # the committed example is current: the command writes nothing


def test_install_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert benchmark().main(["--rounds", "1"]) == 0
    out = capsys.readouterr().out
    for row in ("cold", "again", "check", "< 3 s"):
        assert row in out
