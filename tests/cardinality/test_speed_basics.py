"""What keeps libcst's cost down: the prefilter (and what extends it), pruning metric-free code (line numbers
intact) and the per-file cache (by stat, then by content)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from parapet_cli.analyzers.cardinality import cache, engine
from parapet_cli.analyzers.cardinality.cache import FactsCache, cache_dir, facts_from_json, facts_to_json
from parapet_cli.analyzers.cardinality.config import Config, MetricWrapper
from parapet_cli.analyzers.cardinality.model import FileFacts
from parapet_cli.analyzers.cardinality.prune import prune, source_lines
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
    assert "return 1" not in pruned and "def helper" not in pruned
    # a stub is one statement, a string spanning the lines it replaces (or pass, for one line)
    assert '\nclass Service:\n    """\n"""\n\n    def handle' in pruned and '\n"""\n\n"""\n' in pruned
    assert prune(SOURCE.replace("return [x, x]", "return [x]").replace("(x):\n    ", "(x): ")).count("\npass\n") == 1
    assert 'RED = "red"' not in pruned  # an enum.Enum class: its members are bounded by their spelling alone
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


def test_prune_counts_lines_as_python_does() -> None:
    # a form feed is whitespace to Python but a line break to str.splitlines(); tabs indent a class body
    source = "\x0cimport prometheus_client\n\nclass A:\n\tdef f(self):\n\t\treturn 1\n\n\tdef g(self):\n"
    source += "\t\treturn prometheus_client.Counter('c', 'C.', ['x']).labels(self.x)\n\nH = 1\r\nH.labels(2)\n"
    pruned = prune(source)
    assert len(source_lines(pruned)) == len(source_lines(source)) == 11
    assert "return 1" not in pruned and '\n\t"""\n' in pruned
    facts = analyze_source("app/m.py", source)
    assert sorted(u.site.line for u in facts.uses) == [8, 11]


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

    def counting(item: tuple[str, bytes], wrappers: tuple[MetricWrapper, ...] = ()) -> FileFacts:
        parsed.append(item[0])
        return analyze_source(item[0], item[1], wrappers)

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


def _trust_every_stat(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files a test just wrote are "racy" (changed within RACY_NS of the run): make their stat count."""
    monkeypatch.setattr(cache, "RACY_NS", -(10**12))


def test_a_warm_run_reads_no_file_whose_stat_is_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _repo(tmp_path / "repo")
    (root / "app" / "plain.py").write_text("def f():\n    return 1\n")
    files = ["app/m.py", "app/n.py", "app/plain.py"]
    _trust_every_stat(monkeypatch)
    cold = engine.analyze(root, files, jobs=1, cache=True)
    assert (cold.stats.read, cold.stats.parsed, cold.stats.candidates) == (3, 2, 2)
    warm = engine.analyze(root, files, jobs=1, cache=True)
    assert (warm.stats.read, warm.stats.parsed, warm.stats.cached) == (0, 0, 2)
    assert warm.files == cold.files


def test_a_recent_change_is_hashed_next_time(tmp_path: Path) -> None:
    root = _repo(tmp_path / "repo")
    files = ["app/m.py", "app/n.py"]
    engine.analyze(root, files, jobs=1, cache=True)
    again = engine.analyze(root, files, jobs=1, cache=True)  # just written: the stat is not trusted yet
    assert (again.stats.read, again.stats.parsed) == (2, 0)


def test_same_size_and_mtime_but_new_bytes_is_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _repo(tmp_path / "repo")
    files = ["app/m.py", "app/n.py"]
    _trust_every_stat(monkeypatch)
    engine.analyze(root, files, jobs=1, cache=True)
    n = root / "app" / "n.py"
    before = n.stat()
    n.write_text(n.read_text().replace("'x'", "'z'"))  # same size
    os.utime(n, ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime, as rsync -t or a restore leaves it
    warm = engine.analyze(root, files, jobs=1, cache=True)
    assert (warm.stats.read, warm.stats.parsed) == (1, 1)  # the ctime moved; content decided
    (use,) = next(f for f in warm.files if f.path == "app/n.py").uses
    assert use.positional[0].code == "'z'"


def test_a_touched_file_with_the_same_bytes_is_not_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _repo(tmp_path / "repo")
    files = ["app/m.py", "app/n.py"]
    _trust_every_stat(monkeypatch)
    engine.analyze(root, files, jobs=1, cache=True)
    os.utime(root / "app" / "m.py")  # a fresh clone or checkout: new stat, same bytes
    warm = engine.analyze(root, files, jobs=1, cache=True)
    assert (warm.stats.read, warm.stats.parsed, warm.stats.cached) == (1, 0, 2)
    twice = engine.analyze(root, files, jobs=1, cache=True)  # and the new stat is remembered
    assert twice.stats.read == 0


def test_a_file_that_starts_using_metrics_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _repo(tmp_path / "repo")
    (root / "app" / "plain.py").write_text("def f():\n    return 1\n")
    files = ["app/m.py", "app/n.py", "app/plain.py"]
    _trust_every_stat(monkeypatch)
    engine.analyze(root, files, jobs=1, cache=True)
    (root / "app" / "plain.py").write_text("from app.m import HITS\n\nHITS.labels(user_id)\n")
    warm = engine.analyze(root, files, jobs=1, cache=True)
    assert warm.stats.parsed == 1 and "app/plain.py" in [f.path for f in warm.files]


def test_a_file_that_only_uses_an_imported_metric_passes_the_prefilter() -> None:
    accepts = engine.prefilter_for(Config())
    assert accepts(b"from mymetrics import REQUESTS\n\nREQUESTS.labels(route, 'GET').inc()\n")
    assert accepts(b"REQUESTS.labels (route).inc()\n")
    assert not accepts(b"import collections\ncounts = collections.Counter()\nitems.remove(1)\n")


def test_wrappers_from_the_configuration_extend_the_prefilter_and_the_cache_key() -> None:
    source = b"from myapp.telemetry import make_counter\n\nHITS = make_counter('hits_total', ['user_id'])\n"
    plain = Config()
    wrapped = Config(wrappers=(MetricWrapper(call="myapp.telemetry.make_counter", kind="counter"),))
    glob = Config(wrappers=(MetricWrapper(call="myapp.telemetry.make_*", kind="counter"),))
    assert not engine.prefilter_for(plain)(source)
    assert engine.prefilter_for(wrapped)(source) and engine.prefilter_for(glob)(source)
    assert not engine.prefilter_for(wrapped)(source.replace(b"make_counter", b"make_counters"))
    assert len({engine.cache_key(plain), engine.cache_key(wrapped), engine.cache_key(glob)}) == 3


def test_progress_is_reported_while_parsing(tmp_path: Path) -> None:
    root = _repo(tmp_path / "repo")
    seen: list[tuple[str, int, int]] = []
    engine.analyze(root, ["app/m.py", "app/n.py"], jobs=1, progress=lambda *a: seen.append(a))
    assert seen[0] == ("parsing", 0, 2) and seen[-1] == ("parsing", 2, 2)


def test_a_run_on_some_paths_keeps_the_cache_of_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _repo(tmp_path / "repo")
    _trust_every_stat(monkeypatch)
    engine.analyze(root, ["app/m.py", "app/n.py"], jobs=1, cache=True)
    engine.analyze(root, ["app/n.py"], jobs=1, cache=True)  # parapet doctor cardinality --path app/n.py
    (root / "app" / "gone.py").write_text("import prometheus_client\n")
    engine.analyze(root, ["app/gone.py"], jobs=1, cache=True)
    (root / "app" / "gone.py").unlink()
    again = engine.analyze(root, ["app/m.py", "app/n.py"], jobs=1, cache=True)
    assert (again.stats.read, again.stats.parsed, again.stats.cached) == (0, 0, 2)
    assert "app/gone.py" not in json.loads(next(cache_dir().glob("cardinality-*.json")).read_text())["files"]
