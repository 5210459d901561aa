"""docs/cardinality.md is generated from the rules; this fails when a rule changed and the page did not."""

from __future__ import annotations

from pathlib import Path

from parapet_cli.analyzers.cardinality.docs import DEFAULT, main, render
from parapet_cli.analyzers.cardinality.rules import RULES

DOC = Path(__file__).resolve().parents[2] / "docs" / "cardinality.md"


def test_cardinality_doc_is_up_to_date() -> None:
    assert DEFAULT == DOC
    assert DOC.read_text(encoding="utf-8") == render(), "run: python -m parapet_cli.analyzers.cardinality.docs"


def test_every_rule_is_documented_with_its_examples() -> None:
    text = render()
    for rule in RULES:
        assert f"## {rule.ID}\n" in text and rule.FIX in text and " ".join(rule.why().split()) in text
        for example in (*rule.VALID, *rule.INVALID):
            first = example if isinstance(example, str) else next(iter(example.values()))
            assert first.rstrip("\n") in text


def test_check_mode_detects_a_stale_page(tmp_path: Path) -> None:
    page = tmp_path / "cardinality.md"
    assert main([str(page)]) == 0
    assert main(["--check", str(page)]) == 0
    page.write_text(page.read_text() + "edited\n")
    assert main(["--check", str(page)]) == 1
