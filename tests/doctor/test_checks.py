"""Every multi-node check against a small repository that must trigger it and one that must stay quiet."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from parapet_cli import statcache
from parapet_cli.doctor.pyindex import PyIndex
from parapet_cli.doctor.registry import REGISTRY, load
from parapet_cli.doctor.repo import Repo
from parapet_cli.doctor.runner import run_doctor
from tests.doctor.helpers import copy_fixture, doctor, fixture, found

# (fixture, check, exactly the findings of that check: path, line, severity)
TRIGGERS = [
    ("par101-bad", "PAR101", [("k8s/beat.yaml", 16, "error")]),
    ("par101-worker-beat", "PAR101", [("docker-compose.yml", 7, "error")]),
    ("par101-redbeat", "PAR101", [("k8s/beat.yaml", 12, "info")]),
    ("par102-bad", "PAR102", [("app/main.py", 12, "error")]),
    ("par103-bad", "PAR103", [("shop/settings.py", 10, "error")]),
    (
        "par104-bad",
        "PAR104",
        [
            ("api/app.py", 6, "error"),
            ("shop/settings.py", 3, "error"),
            ("shop/settings.py", 8, "error"),  # LocMemCache with django-ratelimit counting in it
            ("shop/settings.py", 11, "error"),
            ("shop/settings.py", 14, "error"),
        ],
    ),
    ("par105-bad", "PAR105", [("Dockerfile", 5, "error")]),
    ("par105-unmanaged", "PAR105", [("Dockerfile", 4, "warning"), ("gunicorn.conf.py", 1, "warning")]),
    ("par106-bad", "PAR106", [("app/main.py", 5, "error")]),
    ("par109-bad", "PAR109", [("entrypoint.sh", 3, "error")]),
    (
        "par110-bad",
        "PAR110",
        [("cronjob.yaml", 5, "info"), ("cronjob.yaml", 5, "warning"), ("cronjob.yaml", 7, "warning")],
    ),
    ("par111-bad", "PAR111", [("docker-compose.yml", 4, "warning")]),
    ("par112-bad", "PAR112", [("app/db.py", 5, "warning")]),
    ("par115-bad", "PAR115", [("parapet.crontab", 2, "error")]),
]

QUIET = [
    ("par101-good", "PAR101"),
    ("par102-good", "PAR102"),
    ("par103-good", "PAR103"),
    ("par104-good", "PAR104"),
    ("par105-good", "PAR105"),
    ("par106-good", "PAR106"),
    ("par109-good", "PAR109"),
    ("par110-good", "PAR110"),
    ("par111-good", "PAR111"),
    ("par112-good", "PAR112"),
    ("par115-good", "PAR115"),
]


@pytest.mark.parametrize(("name", "rule", "expected"), TRIGGERS, ids=[f"{c[1]}-{c[0]}" for c in TRIGGERS])
def test_check_triggers(name: str, rule: str, expected: list[tuple[str, int, str]]) -> None:
    report = doctor(fixture(name), rule)
    assert found(report, rule) == sorted(expected)


@pytest.mark.parametrize(("name", "rule"), QUIET, ids=[f"{c[1]}-{c[0]}" for c in QUIET])
def test_check_stays_quiet(name: str, rule: str) -> None:
    report = doctor(fixture(name), rule)
    assert found(report, rule) == []
    assert report.exit_code == 0


def test_every_multinode_check_has_both_fixtures() -> None:
    load()
    multinode = {i for i, c in REGISTRY.items() if c.info.family == "multinode"}
    assert multinode == {rule for _, rule, _ in TRIGGERS}
    assert multinode == {rule for _, rule in QUIET}


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


ALL_FIXTURES = sorted({name for name, _, _ in TRIGGERS} | {name for name, _ in QUIET})


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
