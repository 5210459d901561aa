"""benchmarks/http_overhead.py runs end to end (tiny counts; the figures come from running it by hand)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "http_overhead.py"


def test_http_overhead_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("http_overhead", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--requests", "300", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    for name in ("bare", "parapet", "instrumentator", "parapet / instrumentator overhead:"):
        assert name in out
