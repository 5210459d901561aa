"""Suppressions (inline and in the spec, each with a reason) and bad input that must never crash the doctor."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.doctor.helpers import copy_fixture, doctor, found

SPEC = """\
version: parapet/v1
service: shop
alerting:
  runbook_url: https://runbooks.example.com/{slo}
slos:
  - name: availability
    objective: 99.9
    sli:
      http: {}
"""
MAIN = "app/main.py"


def test_inline_suppression_with_a_reason(tmp_path: Path) -> None:
    root = copy_fixture("par106-bad", tmp_path)
    path = root / MAIN
    lines = path.read_text().splitlines()
    lines[4] += "  # parapet: ignore[PAR106] reason=the ingress only routes /api, see k8s/ingress.yaml"
    path.write_text("\n".join(lines) + "\n")
    report = doctor(root, "PAR106")
    assert found(report, "PAR106") == []
    assert [(r.finding.rule, r.suppressed, r.reason) for r in report.suppressed] == [
        ("PAR106", "inline", "the ingress only routes /api, see k8s/ingress.yaml")
    ]
    assert report.exit_code == 0


def test_inline_suppression_on_the_line_above(tmp_path: Path) -> None:
    root = copy_fixture("par106-bad", tmp_path)
    path = root / MAIN
    lines = path.read_text().splitlines()
    lines.insert(4, "# parapet: ignore[PAR104, PAR106] reason=scraped through the mesh only")
    path.write_text("\n".join(lines) + "\n")
    report = doctor(root, "PAR106")
    assert found(report, "PAR106") == [] and len(report.suppressed) == 1


def test_inline_suppression_without_reason_suppresses_nothing(tmp_path: Path) -> None:
    root = copy_fixture("par106-bad", tmp_path)
    path = root / MAIN
    lines = path.read_text().splitlines()
    lines[4] += "  # parapet: ignore[PAR106]"
    path.write_text("\n".join(lines) + "\n")
    report = doctor(root, "PAR106")
    assert found(report, "PAR106") == [(MAIN, 5, "error")]
    assert found(report, "PAR001") == [(MAIN, 5, "warning")]


def test_unused_inline_suppression_is_reported(tmp_path: Path) -> None:
    root = copy_fixture("par106-good", tmp_path)
    path = root / MAIN
    path.write_text(path.read_text() + "x = 1  # parapet: ignore[PAR106] reason=left over\n")
    report = doctor(root, "PAR106")
    assert found(report, "PAR002") == [(MAIN, 15, "info")]
    # a suppression of a check that did not run is not "unused"
    assert found(doctor(root, "PAR110"), "PAR002") == []


def test_suppression_text_inside_a_string_is_not_a_comment(tmp_path: Path) -> None:
    root = copy_fixture("par106-bad", tmp_path)
    path = root / MAIN
    path.write_text(path.read_text() + 'DOC = "# parapet: ignore[PAR106] reason=an example in a string"\n')
    report = doctor(root, "PAR106")
    assert found(report, "PAR106") == [(MAIN, 5, "error")]
    assert found(report, "PAR002") == []


def test_spec_suppression_with_a_path_glob(tmp_path: Path) -> None:
    root = copy_fixture("par110-bad", tmp_path)
    (root / "parapet.yaml").write_text(
        SPEC + "doctor:\n  ignore:\n    - rule: PAR110\n      path: 'cron*.yaml'\n"
        "      reason: the report job is idempotent and short\n"
    )
    report = doctor(root, "PAR110")
    assert found(report, "PAR110") == []
    assert {(r.suppressed, r.reason) for r in report.suppressed} == {("spec", "the report job is idempotent and short")}
    (root / "parapet.yaml").write_text(
        SPEC + "doctor:\n  ignore:\n    - rule: PAR110\n      path: 'other/*.yaml'\n      reason: not this one\n"
    )
    assert len(found(doctor(root, "PAR110"), "PAR110")) == 3


def _notes(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {r.finding.path: r.finding.message for r in report.results if r.finding.rule == "PAR000"}


def test_bad_input_is_reported_as_info_never_a_crash(tmp_path: Path) -> None:
    root = copy_fixture("par110-bad", tmp_path)
    (root / "k8s").mkdir()
    (root / "k8s" / "broken.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: [3\n")
    (root / "k8s" / "dup.yaml").write_text("apiVersion: v1\nkind: Service\nkind: Service\n")
    (root / "binary.py").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR")
    (root / "latin1.py").write_bytes("NAME = 'caf\xe9'\n".encode("latin-1"))
    (root / "syntax.py").write_text("import sqlite3\n\ndef broken(:\n    pass\n")  # a module PAR103 wants
    (root / "loop.yaml").symlink_to(root / "loop.yaml")
    (root / "a.sh").symlink_to(root / "b.sh")
    (root / "b.sh").symlink_to(root / "a.sh")
    (root / "subdir-loop").symlink_to(root)  # a directory symlink back to the root: never followed
    os.mkfifo(root / "fifo.env")
    (root / "Dockerfile").write_text("FROM python:3.12\nCMD gunicorn app:app\n")
    report = doctor(root)
    notes = _notes(report)
    assert notes["k8s/broken.yaml"].startswith("skipped: invalid YAML")
    assert notes["k8s/dup.yaml"].startswith("skipped: invalid YAML: duplicate key")
    assert notes["binary.py"] == "skipped: binary file where text was expected"
    assert notes["latin1.py"].startswith("skipped: not UTF-8 text")
    assert notes["syntax.py"].startswith("skipped: Python that does not parse")
    assert notes["loop.yaml"] == "skipped: symlink loop"
    assert notes["a.sh"] == "skipped: symlink loop"
    assert notes["fifo.env"] == "skipped: not a regular file"
    broken = next(r.finding for r in report.results if r.finding.path == "k8s/broken.yaml")
    assert broken.line == 4 and broken.severity.value == "info"
    # the valid manifest next to them was still checked
    assert len(found(report, "PAR110")) == 3
    assert report.exit_code == 0


def test_unreadable_file(tmp_path: Path) -> None:
    """Files and directories the doctor may not read. Root reads everything, so as root the doctor runs in a
    subprocess without the capabilities that bypass file permissions (util-linux setpriv)."""
    root = copy_fixture("par110-bad", tmp_path)
    secret = root / "secret.yaml"
    secret.write_text("kind: Secret\n")
    secret.chmod(0)
    closed = root / "closed"
    closed.mkdir()
    (closed / "deploy.yaml").write_text("kind: Deployment\n")
    closed.chmod(0)
    command = [sys.executable, "-m", "parapet_cli", "doctor", "--root", str(root), "--format", "json"]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv (util-linux): cannot make a file unreadable")
        caps = "-dac_override,-dac_read_search"
        command = [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}", *command]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    finally:
        closed.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    notes = {f["path"]: f["message"] for f in body["findings"] if f["rule"] == "PAR000"}
    assert notes["secret.yaml"] == "skipped: cannot read: Permission denied"
    assert notes["closed"] == "skipped: cannot list directory: Permission denied"
    assert sum(1 for f in body["findings"] if f["rule"] == "PAR110") == 3


@pytest.mark.parametrize("name", ["par101-bad", "par104-bad", "par115-bad"])
def test_runs_twice_the_same(name: str) -> None:
    from tests.doctor.helpers import fixture

    first = doctor(fixture(name))
    second = doctor(fixture(name))
    assert [r.fingerprint for r in first.results] == [r.fingerprint for r in second.results]


def test_fingerprints_survive_lines_inserted_above(tmp_path: Path) -> None:
    root = copy_fixture("par104-bad", tmp_path)
    before = {r.fingerprint for r in doctor(root, "PAR104").active}
    settings = root / "shop" / "settings.py"
    settings.write_text('"""Settings of the shop."""\n\n# production\n' + settings.read_text())
    after = doctor(root, "PAR104")
    assert {r.fingerprint for r in after.active} == before
    assert found(after, "PAR104")[1] == ("shop/settings.py", 6, "error")


def test_a_failing_check_is_reported_and_the_others_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from parapet_cli.doctor import registry
    from tests.doctor.helpers import fixture

    registry.load()
    original = registry.REGISTRY["PAR110"]

    def explode(ctx):  # type: ignore[no-untyped-def]
        raise KeyError("spec")

    monkeypatch.setitem(registry.REGISTRY, "PAR110", registry.Check(original.info, explode))
    report = doctor(fixture("par101-bad"), "PAR101", "PAR110")
    assert found(report, "PAR101") == [("k8s/beat.yaml", 16, "error")]
    failed = [r.finding for r in report.active if r.finding.rule == "PAR110"]
    assert len(failed) == 1 and failed[0].message.startswith("the check failed: KeyError: 'spec'")
    assert report.exit_code == 1
