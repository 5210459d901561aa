"""Odd and hostile input for the analyzer: files that are not regular, files over the size budget, a module with
thousands of metrics (positions in linear time, and right), and generated sources of every shape (hypothesis)."""

from __future__ import annotations

import os
import resource
import threading
import time
from pathlib import Path

import libcst as cst
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from libcst.metadata import MetadataWrapper, PositionProvider

from parapet_cli.analyzers.cardinality import positions
from parapet_cli.analyzers.cardinality.config import MAX_FILE_BYTES, config_from
from parapet_cli.analyzers.cardinality.engine import Options, analyze
from parapet_cli.analyzers.cardinality.recognize import analyze_source
from parapet_cli.doctor.runner import run_doctor
from tests.doctor.helpers import doctor

METRIC = 'from prometheus_client import Counter\nC = Counter("c_total", "C.", ["user_id"])\n'


def test_a_fifo_named_py_is_never_opened(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "m.py").write_text(METRIC)
    os.mkfifo(tmp_path / "app" / "pipe.py")  # open() for reading would block until a writer comes: none does
    done: list[object] = []
    runner = threading.Thread(target=lambda: done.append(analyze(tmp_path, ["app/m.py", "app/pipe.py"], jobs=1)))
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive(), "the analyzer blocked on a FIFO"
    (analysis,) = done
    assert isinstance(analysis, type(analyze(tmp_path, [], jobs=1)))
    assert [f.path for f in analysis.files] == ["app/m.py"]
    assert [(n.path, n.subject) for n in analysis.notes] == [("app/pipe.py", "cannot read it: not a regular file")]


def test_a_file_over_the_budget_is_a_note_naming_it_and_the_budget_is_configurable(tmp_path: Path) -> None:
    big = METRIC + "# padding\n" * 200
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "big.py").write_text(big)
    (tmp_path / "pyproject.toml").write_text("[tool.parapet.cardinality]\nmax-file-bytes = 1000\n")
    report = doctor(tmp_path, "cardinality")
    notes = [r.finding for r in report.active if r.finding.rule == "PAR000"]
    assert [n.path for n in notes] == ["app/big.py"]
    assert "over the budget of 1,000 bytes" in notes[0].message and "max-file-bytes" in notes[0].message
    assert not [r for r in report.active if r.finding.rule == "PAR402"]
    (tmp_path / "pyproject.toml").write_text(f"[tool.parapet.cardinality]\nmax-file-bytes = {len(big)}\n")
    report = doctor(tmp_path, "cardinality")
    assert [r.finding.rule for r in report.active] == ["PAR402"]
    assert config_from({}, "x").max_file_bytes == MAX_FILE_BYTES


def test_options_reach_the_checks_explicitly(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "m.py").write_text(METRIC)
    everything = run_doctor(tmp_path, selectors=["PAR402"])
    only_a = run_doctor(tmp_path, selectors=["PAR402"], options=[Options(paths=(tmp_path / "a",))])
    assert sorted(r.finding.path for r in everything.active) == ["a/m.py", "b/m.py"]
    assert [r.finding.path for r in only_a.active] == ["a/m.py"]


def generated_module(n: int) -> str:
    lines = ["from prometheus_client import Counter, Histogram", ""]
    for i in range(n):
        lines.append(f'M{i} = Counter("m{i}_total", "Metric {i}, ünïcode.", ["method"])')
        lines.append(f'x = "é"; (M{i}.labels(f"{{uuid()}}")).inc()')
    return "\n".join(lines) + "\n"


def test_a_module_with_thousands_of_metrics_gets_every_position_right() -> None:
    n = 500
    facts = analyze_source("gen.py", generated_module(n))
    assert len(facts.definitions) == n and len(facts.uses) == n
    for i, (d, u) in enumerate(zip(facts.definitions, facts.uses, strict=True)):
        assert (d.site.line, d.site.column) == (3 + 2 * i, len(f"M{i} = ") + 1)
        assert (u.site.line, u.site.column) == (4 + 2 * i, len('x = "é"; (') + 1)  # characters, not bytes


TRICKY = """\
from prometheus_client import Counter as C, Gauge
import prometheus_client as pc
@decorate(C("d_total", "D.", ["a"]))
def f(x=Gauge("g", "G.", ["b"]).labels("x"), *, y=(pc.Counter)("e", "E.")):
    z = [C(f"n{i}", "N.").labels(i) for i in range(3)] if x else (lambda: pc.Gauge("h", "H."))()
    return f"{C('q', 'Q.', ['é']).labels('ü')!r}", (C)("p", "P.")("call")(of)(calls)
class K(Base, metaclass=M(C("k", "K."))):
    r = C("r", "R.", ["c"])
    def use(self):
        self.r.labels(c=1) ; K.r.labels(2)
match command:
    case Point(x=0) if C("m", "M.").labels("z"):
        pass
"""


def test_positions_from_ast_equal_libcst_positions(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = analyze_source("t.py", TRICKY)
    calls = {(d.site.line, d.site.column) for d in fast.definitions} | {(u.site.line, u.site.column) for u in fast.uses}
    assert len(calls) >= 12
    monkeypatch.setattr(positions, "_ast_calls", lambda text, calls=None: None)  # as when ast cannot read the file
    slow = analyze_source("t.py", TRICKY)
    assert slow == fast
    # and libcst's own positions of every call agree with the pairing of calls
    tree = cst.parse_module(TRICKY)
    wrapper = MetadataWrapper(tree, unsafe_skip_copy=True)
    found: list[cst.Call] = []

    class Calls(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            found.append(node)

    tree.visit(Calls())
    starts = wrapper.resolve(PositionProvider)
    table = positions.CallPositions(TRICKY, found, wrapper)
    assert [table.start(c) for c in found] == [starts[c].start for c in found]


# ---------------------------------------------------------------------------------------------------- fuzzing

SIZE_CAP = 64 * 1024  # bytes of one generated source: bounds the time and memory of a single input
SECONDS_PER_INPUT = 10.0
MEGABYTES_PER_INPUT = 400

_FRAGMENTS = [
    "from prometheus_client import Counter, Gauge, Histogram\n",
    "from prometheus_client.core import GaugeMetricFamily, CounterMetricFamily\n",
    "import prometheus_client as pc\n",
    'C = Counter("c_total", "C.", ["user", "status"])\n',
    'G = pc.Gauge(f"g_{x}", "G.", labelnames=LABELS)\n',
    'H = Histogram("h", "H.", buckets=[i for i in range(10)])\n',
    "C.labels(request.url.path, str(uuid.uuid4())).inc()\n",
    "def collect(self):\n    g = GaugeMetricFamily('x', 'X.', labels=self._labels + ['user'])\n"
    "    g.add_metric([self.name, e], 1)\n    yield g\n",
    "class K:\n    labels = ['username']\n    def f(self):\n        self.m.labels(*self.labels)\n",
    "try:\n    pass\nexcept Exception as e:\n    C.labels(str(e), e).inc()\n",
    "LABELS = ('a',) + ('b',)\n",
    "class A:\n    x = ['a']\n    def __init__(self):\n"
    "        self._labels += ['x']\n        self._labels = self._labels\n"
    "    def collect(self):\n        yield GaugeMetricFamily('x', 'X.', labels=self._labels + A.x + [*self.y])\n",
    "x = (((((((((((((((((((((((((((((1)))))))))))))))))))))))))))))\n",
    "s = '" + "a" * 5000 + "'\n",
    "n = " + "9" * 4000 + "\n",
    "def f(:\n",  # invalid
    "\tif x:\n  return\n",  # inconsistent indentation
    "print 'python 2'\n",
    "x = '\\N{BOGUS NAME}'\n",
    "\x00\n",
    "# -*- coding: latin-1 -*-\nname = 'caf\xe9'\n",
    "\ufeffimport prometheus_client\n",
    "C.labels(**{k: v for k, v in d.items()}).inc()\n",
    "async def f():\n    await C.labels(await g()).inc()\n",
    "lambda: C.labels(lambda: 1)\n",
    "match x:\n    case {'a': b}:\n        C.labels(b)\n",
    "H = Histogram('h', 'H.', buckets=[i for i in range(" + "9" * 5000 + ")])\n",  # past int()'s digit limit
    "x = " + "+".join(["1"] * 3000) + "\n",  # a left-deep chain: deep without a single bracket
    "y = " + "not " * 3000 + "x\n",
]


def _nested(depth: int) -> str:
    return "C.labels(" + "f(" * depth + "x" + ")" * depth + ")\n"


def _indented(depth: int) -> str:
    return "".join("    " * i + "if x:\n" for i in range(depth)) + "    " * depth + "C.labels(y)\n"


sources = st.one_of(
    st.lists(st.sampled_from(_FRAGMENTS), max_size=12).map("".join),
    st.builds(lambda d: _nested(d), st.integers(0, 260)),  # Python itself stops at 200 brackets
    st.builds(lambda d: _indented(d), st.integers(0, 120)),
    st.text(max_size=2000),  # anything at all, surrogates excluded by utf-8 encoding below
    st.binary(max_size=2000).map(lambda b: b"import prometheus_client\n" + b),
    st.lists(st.sampled_from(_FRAGMENTS), max_size=6).map(lambda parts: "".join(parts).encode("utf-16")),
)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sources)
def test_generated_sources_never_raise_and_stay_bounded(source: str | bytes) -> None:
    data = source.encode("utf-8", errors="surrogatepass") if isinstance(source, str) else source
    data = data[:SIZE_CAP]
    assert len(data) <= SIZE_CAP
    before = _peak_rss_mb()
    start = time.perf_counter()
    facts = analyze_source("fuzz.py", data)  # never an exception: a file it cannot read is facts with an error
    elapsed = time.perf_counter() - start
    assert elapsed < SECONDS_PER_INPUT, f"{elapsed:.1f} s for {len(data)} bytes"
    assert _peak_rss_mb() - before < MEGABYTES_PER_INPUT
    assert facts.path == "fuzz.py"
    assert facts.error is None or isinstance(facts.error, str)
    for d in facts.definitions:
        assert d.site.line >= 1 and d.site.column >= 1
    for u in facts.uses:
        assert u.site.line >= 1 and u.site.column >= 1
