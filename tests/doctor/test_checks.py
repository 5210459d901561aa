"""The multi-node checks beyond their own examples: how they tell similar cases apart, and what the module index
and its cache may and may not change."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from parapet_cli import statcache
from parapet_cli.doctor.pyindex import PyIndex
from parapet_cli.doctor.registry import REGISTRY, load
from parapet_cli.doctor.repo import Repo
from parapet_cli.doctor.runner import run_doctor
from tests.doctor.helpers import copy_fixture, doctor, fixture, fixture_names, found

load()

# Every check's firing and quiet examples live next to its code and run in test_examples.py; these tests use
# them (``fixture("par101-bad")`` is PAR101's example "bad") for what a single example cannot show.
ALL_FIXTURES = fixture_names()


def test_redbeat_is_safe_but_worker_beat_is_not() -> None:
    redbeat = doctor(fixture("par101-redbeat"), "PAR101")
    assert "RedBeat" in redbeat.active[0].finding.message
    assert redbeat.exit_code == 0
    embedded = doctor(fixture("par101-worker-beat"), "PAR101")
    assert "worker -B" in embedded.active[0].finding.message
    assert embedded.exit_code == 1


def test_cron_and_parapet_archive_are_told_apart() -> None:
    report = doctor(fixture("par115-bad"), "multinode")
    assert found(report, "PAR109") == [("Dockerfile", 6, "error")]
    assert found(report, "PAR115") == [("parapet.crontab", 2, "error")]


def test_a_scheduler_in_its_own_process_is_not_a_web_worker_scheduler() -> None:
    # app/scheduler.py starts a scheduler, but only under __main__, run by its own compose service
    report = doctor(fixture("par102-good"), "multinode")
    assert [r for r in report.active if r.finding.rule.startswith("PAR1")] == []


def test_sqlite_shared_by_web_and_worker_containers(tmp_path: Path) -> None:
    """One replica each, but the Celery worker runs in its own container: it opens another SQLite file."""
    root = copy_fixture("par103-bad", tmp_path)
    (root / "k8s" / "web.yaml").write_text(
        (root / "k8s" / "web.yaml").read_text().replace("replicas: 2", "replicas: 1").replace('"3"', '"1"')
    )
    assert found(doctor(root, "PAR103"), "PAR103") == []  # one process on one node: SQLite is fine
    (root / "docker-compose.yml").write_text(
        "services:\n  worker:\n    image: registry.example.com/shop:2.0.0\n    command: celery -A shop worker\n"
    )
    assert found(doctor(root, "PAR103"), "PAR103") == [("shop/settings.py", 10, "error")]


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_parsing_only_the_modules_checks_want_finds_the_same(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each check's ``python`` pattern only saves work: with every module parsed for every check, the same findings."""
    wanted = [(r.finding.rule, r.finding.path, r.finding.line, r.finding.message) for r in doctor(fixture(name)).active]
    monkeypatch.setattr(PyIndex, "_wanted", lambda self, focus: list(self.files))
    every = [(r.finding.rule, r.finding.path, r.finding.line, r.finding.message) for r in doctor(fixture(name)).active]
    assert wanted == every


def test_checks_that_read_modules_say_which() -> None:
    """A check that reads ``ctx.py`` declares the text its modules must contain (else it would see none)."""
    load()
    for check_id, registered in REGISTRY.items():
        source = inspect.getsource(inspect.getmodule(registered.run))  # type: ignore[arg-type]
        if "ctx.py." in source or "at.ctx.py" in source:
            assert registered.python is not None, f"{check_id} reads ctx.py but declares no python= pattern"


def test_the_module_cache_skips_reading_unchanged_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARAPET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(statcache, "RACY_NS", -(10**12))  # files written just now count as settled
    root = copy_fixture("par104-bad", tmp_path)
    (root / "shop" / "views.py").write_text("def index(request):\n    return None\n")  # no check wants it
    cold = run_doctor(root, selectors=["multinode"], cache=True)
    reads: list[str] = []
    real = Repo._read
    monkeypatch.setattr(Repo, "_read", lambda self, rel: reads.append(rel) or real(self, rel))
    warm = run_doctor(root, selectors=["multinode"], cache=True)
    assert [r.finding for r in warm.active] == [r.finding for r in cold.active]
    # only the modules some check needs are read again (to be parsed); the others are known by their stat
    assert sorted(r for r in reads if r.endswith(".py")) == ["api/app.py", "shop/settings.py"]
    (root / "api" / "app.py").write_text("x = 1\n")
    changed = run_doctor(root, selectors=["multinode"], cache=True)
    assert [r.finding.path for r in changed.active].count("api/app.py") == 0
