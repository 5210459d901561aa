"""docs/checks.md is generated from the registry; this fails when someone changed a check and not the page."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from parapet_cli.doctor.docs import DEFAULT, main, render
from parapet_cli.doctor.registry import all_infos

DOC = Path(__file__).resolve().parents[2] / "docs" / "checks.md"


def test_checks_doc_is_up_to_date() -> None:
    assert DEFAULT == DOC
    assert DOC.read_text(encoding="utf-8") == render(), "run: python -m parapet_cli.doctor.docs"


def test_every_check_is_documented_with_why_and_fix() -> None:
    text = render()
    for info in all_infos():
        assert f"### {info.id}\n" in text
        assert info.fix in text
        assert " ".join(info.why.split()) in text


def test_check_mode_detects_a_stale_page(tmp_path: Path) -> None:
    page = tmp_path / "checks.md"
    assert main([str(page)]) == 0
    assert main(["--check", str(page)]) == 0
    page.write_text(page.read_text().replace("PAR101", "PAR1O1", 1))
    assert main(["--check", str(page)]) == 1
    proc = subprocess.run(
        [sys.executable, "-m", "parapet_cli.doctor.docs", "--check", str(page)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1 and "out of date" in proc.stderr
