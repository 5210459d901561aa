"""Parapet's own health: the spec loads, generated files are fresh, runbooks, the Alertmanager receiver, the store,
and promtool on the generated rules."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from parapet_cli.doctor.checks import par301_store
from tests.doctor.helpers import copy_fixture, doctor, fixture, found


def generate(cli, root: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("gen", "slo", "--spec", str(root / "parapet.yaml"))
    assert result.exit_code == 0, result.output


def test_a_healthy_configuration(cli, tmp_path: Path, promtool: str) -> None:  # type: ignore[no-untyped-def]
    root = copy_fixture("config-good", tmp_path)
    generate(cli, root)
    report = doctor(root, "config", "PAR302")
    assert [r.finding for r in report.active] == []
    assert report.exit_code == 0


def test_spec_that_does_not_load() -> None:
    report = doctor(fixture("config-invalid-spec"), "config", "PAR302")
    assert found(report, "PAR201") == [("parapet.yaml", 5, "error")]
    assert "objective" in report.active[0].finding.message
    for rule in ("PAR202", "PAR203", "PAR204", "PAR302"):
        assert found(report, rule) == [("parapet.yaml", None, "info")]
    assert report.exit_code == 1


def test_no_spec_skips_parapet_checks() -> None:
    report = doctor(fixture("par110-good"), "config")
    assert found(report, "PAR201") == [(None, None, "info")]
    assert [r.finding.rule for r in report.active] == ["PAR201"]


def test_generated_files_missing_stale_and_edited(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = copy_fixture("config-good", tmp_path)
    rules = "prometheus/rules/shop.slo.rules.yml"
    missing = doctor(root, "PAR202")
    assert [r.finding.message for r in missing.active] == [
        f"{rules} has not been generated yet",
        "prometheus/rules/shop.slo.test.yml has not been generated yet",
    ]
    generate(cli, root)
    assert found(doctor(root, "PAR202"), "PAR202") == []
    spec = root / "parapet.yaml"
    spec.write_text(spec.read_text().replace("objective: 99.9", "objective: 99.5"))
    stale = doctor(root, "PAR202")
    assert (rules, 1, "error") in found(stale, "PAR202")
    assert "out of date" in stale.active[0].finding.message
    generate(cli, root)
    path = root / rules
    path.write_text(path.read_text() + "# tuned by hand\n")
    edited = doctor(root, "PAR202")
    assert found(edited, "PAR202") == [(rules, 1, "error")]
    assert "edited by hand" in edited.active[0].finding.message


def test_generated_files_are_looked_for_where_gen_writes_them(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """PAR202 plans the files of ``gen slo``'s own target, in its directory: a rules_dir written with a leading
    slash is under the project root for both (before, the doctor looked for the files at the filesystem's root)."""
    root = copy_fixture("config-good", tmp_path)
    spec = root / "parapet.yaml"
    spec.write_text(spec.read_text() + "output:\n  rules_dir: /ops/rules/\n")
    assert [r.finding.message for r in doctor(root, "PAR202").active] == [
        "ops/rules/shop.slo.rules.yml has not been generated yet",
        "ops/rules/shop.slo.test.yml has not been generated yet",
    ]
    generate(cli, root)
    assert (root / "ops/rules/shop.slo.rules.yml").is_file()
    assert found(doctor(root, "PAR202"), "PAR202") == []


def test_runbooks_that_point_nowhere() -> None:
    report = doctor(fixture("config-bad"), "PAR203")
    assert found(report, "PAR203") == [("parapet.yaml", 6, "error"), ("parapet.yaml", 16, "error")]
    messages = [r.finding.message for r in report.active]
    assert "'runbooks/availability.md' is not a file in the repository" in messages[0]
    assert "keeps a placeholder" in messages[1]


def test_alertmanager_receiver_without_auth_or_route() -> None:
    report = doctor(fixture("config-bad"), "PAR204")
    assert found(report, "PAR204") == [
        ("monitoring/alertmanager.yml", 3, "error"),
        ("monitoring/alertmanager.yml", 3, "warning"),
    ]


def test_alertmanager_missing_receiver_and_missing_config(tmp_path: Path) -> None:
    root = copy_fixture("config-good", tmp_path)
    (root / "monitoring" / "alertmanager.yml").unlink()
    report = doctor(root, "PAR204")
    # the legacy file has no Parapet receiver, but the spec suppresses PAR204 for it, with a reason
    assert found(report, "PAR204") == []
    assert [(r.finding.path, r.suppressed) for r in report.suppressed] == [
        ("monitoring/legacy-alertmanager.yml", "spec")
    ]
    (root / "monitoring" / "legacy-alertmanager.yml").unlink()
    report = doctor(root, "PAR204")
    assert found(report, "PAR204") == [(None, None, "info")]


def test_alertmanager_config_in_a_configmap(tmp_path: Path) -> None:
    root = copy_fixture("config-good", tmp_path)
    (root / "monitoring" / "alertmanager.yml").unlink()
    (root / "monitoring" / "legacy-alertmanager.yml").unlink()
    (root / "k8s").mkdir()
    (root / "k8s" / "alertmanager.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: alertmanager}\ndata:\n  alertmanager.yml: |\n"
        "    route: {receiver: parapet}\n    receivers:\n      - name: parapet\n        webhook_configs:\n"
        "          - url: https://shop.example.com/parapet/webhook\n"
    )
    assert found(doctor(root, "PAR204"), "PAR204") == [("k8s/alertmanager.yaml", 5, "error")]


def test_promtool_missing_is_info(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    report = doctor(fixture("config-good"), "PAR302")
    assert found(report, "PAR302") == [(None, None, "info")]
    assert "promtool is not on PATH" in report.active[0].finding.message


def test_store_package_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(par301_store, "STORE_PACKAGE", "parapet.no_such_store")
    report = doctor(fixture("config-good"), "PAR301")
    assert [r.finding.message for r in report.active] == [
        "skipped: the evidence store (parapet.no_such_store) is not part of this version of Parapet"
    ]


def test_store_reachable_and_migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evidence = pytest.importorskip("parapet.evidence")
    monkeypatch.delenv("PARAPET_DATABASE_URL", raising=False)
    assert "no database URL configured" in doctor(fixture("config-good"), "PAR301").active[0].finding.message
    db = tmp_path / "store.db"
    monkeypatch.setenv("PARAPET_DATABASE_URL", f"sqlite:///{db}")
    missing = doctor(fixture("config-good"), "PAR301")
    assert found(missing, "PAR301") == [(None, None, "error")] and "does not exist" in missing.active[0].finding.message
    assert not db.exists()  # the check never creates the store
    sqlite3.connect(db).close()
    empty = doctor(fixture("config-good"), "PAR301")
    assert "not migrated" in empty.active[0].finding.message
    engine = evidence.create_engine_for(f"sqlite:///{db}")
    evidence.metadata.create_all(engine)
    engine.dispose()
    assert found(doctor(fixture("config-good"), "PAR301"), "PAR301") == []
