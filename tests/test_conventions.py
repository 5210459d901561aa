"""Every generated name is spelled in one place: ``parapet.conventions`` (metric, recording-rule, label, alert
and dashboard names), and each table name in its ``Table`` of ``parapet.evidence.schema``.

The test reads every Python module under src/ and looks at its string literals (docstrings aside, which may
name a metric to explain it): none may spell one of those names again. A second copy is how two modules came
to disagree about a dashboard uid (an alert linking to ``parapet-shop.api-…`` while the dashboard was
``parapet-shop-api-…``).
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from parapet import conventions as c
from tests.conftest import ROOT

SRC = ROOT / "src"
CONVENTIONS = SRC / "parapet" / "conventions.py"
SCHEMA = SRC / "parapet" / "evidence" / "schema.py"
# Migrations are frozen copies of the schema at one revision: they must keep spelling the names they created.
MIGRATIONS = ("migrations",)

METRICS = (
    c.HTTP_DURATION,
    c.HTTP_ACTIVE,
    c.DB_DURATION,
    c.JOB_DURATION,
    c.JOB_QUEUE_WAIT,
    c.JOB_LAST_SUCCESS,
    c.JOURNEY_EVENTS,
    c.PROBE_DURATION,
    c.PROBE_SUCCESS,
    c.BUILD_INFO,
)


def _tables() -> tuple[str, ...]:
    from parapet.evidence.schema import metadata

    return tuple(sorted(metadata.tables))


def _docstrings(tree: ast.Module) -> set[int]:
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def _literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string literal of the module that is not a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


def _modules(*exempt: Path) -> list[Path]:
    return [
        p
        for p in sorted(SRC.rglob("*.py"))
        if p not in exempt and not any(part in MIGRATIONS for part in p.relative_to(SRC).parts)
    ]


def _spelled(pattern: re.Pattern[str], *exempt: Path) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line}: {text[:80]!r}"
        for path in _modules(*exempt)
        for line, text in _literals(path)
        if pattern.search(text)
    ]


def _words(names: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(re.escape(n) for n in names) + r")(?![A-Za-z0-9])")


def test_recording_rule_names_come_from_conventions() -> None:
    assert c.error_ratio("5m").startswith(c.LEVEL + ":")
    assert _spelled(re.compile(re.escape(c.LEVEL + ":")), CONVENTIONS) == []


def test_metric_names_come_from_the_contract() -> None:
    contract = importlib.import_module("parapet.metrics.contract")
    assert {getattr(contract, n) for n in dir(contract) if getattr(contract, n, None) in METRICS} == set(METRICS)
    assert _spelled(_words(METRICS), CONVENTIONS) == []


def test_table_names_come_from_the_schema() -> None:
    tables = _tables()
    assert len(tables) >= 5, tables
    assert _spelled(_words(tables), SCHEMA) == []


def test_alert_names_and_dashboard_uids_come_from_conventions() -> None:
    pattern = re.compile(re.escape(c.ALERT_SUFFIX) + "|" + re.escape(c.ABSENT_SUFFIX) + r"\b")
    assert _spelled(pattern, CONVENTIONS) == []
    # one uid function: the alert's {uid} and the dashboard's uid are the same call
    defining = [
        f"{p.relative_to(ROOT)}:{n.lineno}"
        for p in _modules()
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(n, ast.FunctionDef) and re.fullmatch(r"_?(dashboard_)?uid", n.name)
    ]
    assert defining == [f"{CONVENTIONS.relative_to(ROOT)}:{c.dashboard_uid.__code__.co_firstlineno}"]


@pytest.mark.parametrize(
    ("service", "slo", "uid"),
    [
        ("shop.api", "latency", "parapet-shop-api-latency"),
        ("shop", "api_latency", "parapet-shop-api_latency"),
        ("a-very-long-service-name", "a-very-long-slo-name", "parapet-a-very-long-service-nam-a4e9ff7e"),
    ],
)
def test_dashboard_uid(service: str, slo: str, uid: str) -> None:
    assert c.slo_dashboard_uid(service, slo) == uid
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid)


def test_the_check_sees_a_second_spelling(tmp_path: Path) -> None:
    """The scan itself: a literal naming a metric is found, the same name in a docstring is not."""
    module = tmp_path / "m.py"
    module.write_text(f'"""Records ``{c.JOB_DURATION}``."""\nNAME = "{c.JOB_DURATION}_count"\n')
    assert [text for _, text in _literals(module) if _words(METRICS).search(text)] == [f"{c.JOB_DURATION}_count"]
