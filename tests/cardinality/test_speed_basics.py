"""What keeps libcst's cost down: pruning metric-free code (line numbers intact) and the per-file cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parapet_cli.analyzers.cardinality import engine
from parapet_cli.analyzers.cardinality.cache import FactsCache, cache_dir, facts_from_json, facts_to_json
from parapet_cli.analyzers.cardinality.prune import prune
from parapet_cli.analyzers.cardinality.recognize import analyze_source
from parapet_cli.analyzers.cardinality.rules import RULES

SOURCE = """\
from prometheus_client import Counter as C
import enum


class Color(enum.Enum):
    RED = "red"


def unrelated(x):
    return [x, x]


@decorator
async def also_unrelated():
    await thing()


class Service:
    def helper(self):
        return 1

    def handle(self, user_id):
        HITS.labels(user_id).inc()


HITS = C("hits_total", "Hits.", ["user"])
"""


def test_prune_blanks_metric_free_code_and_keeps_lines() -> None:
    pruned = prune(SOURCE)
    assert len(pruned.splitlines()) == len(SOURCE.splitlines())
    assert "return [x, x]" not in pruned and "def unrelated" not in pruned
    assert "await thing()" not in pruned and "@decorator" not in pruned
    assert "return 1" not in pruned and "def helper" not in pruned and "\n    pass\n" in pruned
    assert 'RED = "red"' in pruned  # Enum is a word worth keeping
    assert "HITS.labels(user_id).inc()" in pruned
    facts = analyze_source("app/m.py", SOURCE)
    (use,) = facts.uses
    assert use.site.line == SOURCE.splitlines().index("        HITS.labels(user_id).inc()") + 1
    assert facts.definitions[0].site.line == 26


def test_prune_keeps_functions_that_use_an_alias() -> None:
    source = "import prometheus_client as pc\n\ndef make():\n    return pc.Gauge('g', 'G.')\n"
    assert prune(source) == source


def test_prune_leaves_code_ast_cannot_read() -> None:
    assert prune("def f(:\n") == "def f(:\n"


@pytest.mark.parametrize("rule", RULES, ids=[r.ID for r in RULES])
def test_facts_survive_the_json_cache(rule: type) -> None:
    for example in (*rule.INVALID, *rule.VALID):
        sources = {"app/example.py": example} if isinstance(example, str) else example
        for path, text in sources.items():
            if path.endswith(".py"):
                facts = analyze_source(path, text)
                assert facts_from_json(json.loads(json.dumps(facts_to_json(facts)))) == facts


def _repo(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir(parents=True)
    (tmp_path / "app" / "m.py").write_text(SOURCE)
    (tmp_path / "app" / "n.py").write_text("from app.m import HITS\nHITS.labels('x')\n")
    return tmp_path


def test_an_unchanged_file_is_not_parsed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _repo(tmp_path / "repo")
    files = ["app/m.py", "app/n.py"]
    cold = engine.analyze(root, files, jobs=1, cache=True)
    parsed: list[str] = []

    def counting(item: tuple[str, bytes]) -> object:
        parsed.append(item[0])
        return analyze_source(*item)

    monkeypatch.setattr(engine, "_work", counting)
    warm = engine.analyze(root, files, jobs=1, cache=True)
    assert parsed == [] and warm.files == cold.files
    (root / "app" / "n.py").write_text("from app.m import HITS\n\nHITS.labels('y')\n")
    engine.analyze(root, files, jobs=1, cache=True)
    assert parsed == ["app/n.py"]


def test_a_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    root = _repo(tmp_path / "repo")
    engine.analyze(root, ["app/m.py"], jobs=1, cache=True)
    (stored,) = cache_dir().glob("cardinality-*.json")
    stored.write_text("{not json")
    assert FactsCache.load(root).old == {}
    assert engine.analyze(root, ["app/m.py"], jobs=1, cache=True).files[0].uses
