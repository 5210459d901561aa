"""Multiprocess directory checks with clear errors, and what importing parapet.metrics pulls in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry

from parapet.metrics import MultiprocessError
from parapet.metrics import multiprocess as mp


def test_off_without_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("prometheus_multiproc_dir", raising=False)
    assert mp.check_dir() is None
    assert mp.scrape_registry() is REGISTRY
    registry = CollectorRegistry()
    assert mp.scrape_registry(registry) is registry
    assert mp.wipe_dir() is None


def test_set_after_import_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # this test process imported prometheus_client without the variable: its values live in memory
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with pytest.raises(MultiprocessError) as caught:
        mp.check_dir()
    assert "prometheus_client was imported before it was" in caught.value.message
    assert caught.value.hint is not None and "not from application code" in caught.value.hint


def _check_in_fresh_process(env_dir: str) -> str:
    code = (
        "from parapet.metrics.multiprocess import check_dir\n"
        "try:\n    check_dir()\nexcept Exception as e:\n    print(e)\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": env_dir}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout


def test_missing_file_and_unwritable_directories(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert _check_in_fresh_process(str(missing)).strip() == (
        f"PROMETHEUS_MULTIPROC_DIR names {missing}, which does not exist (hint: create it before the server starts "
        f"(mkdir -p {missing}), or call parapet.metrics.multiprocess.on_starting from gunicorn.conf.py)"
    )
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert "which is not a directory" in _check_in_fresh_process(str(a_file))
    ok = tmp_path / "ok"
    ok.mkdir()
    assert _check_in_fresh_process(str(ok)) == ""


def test_wipe_dir_empties_and_creates(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "metrics"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(target))
    assert mp.wipe_dir() == target and target.is_dir()
    (target / "counter_7.db").write_bytes(b"old")
    (target / "sub").mkdir()
    mp.on_starting(None)
    assert list(target.iterdir()) == []


def test_importing_parapet_metrics_stays_light() -> None:
    code = (
        "import sys, parapet.metrics\n"
        "heavy = ('typer', 'rich', 'libcst', 'jinja2', 'parapet_cli', 'starlette', 'fastapi', 'django', 'flask',"
        " 'sqlalchemy', 'celery', 'rq', 'opentelemetry')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
