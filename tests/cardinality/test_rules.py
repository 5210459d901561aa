"""Every rule's VALID and INVALID examples, each a named test (``PAR403-INVALID-2``), like Fixit's testing module:
adding a rule adds its tests, and a rule without examples fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from parapet_cli.analyzers.cardinality.rule import Example, Rule
from parapet_cli.analyzers.cardinality.rules import RULES
from parapet_cli.analyzers.cardinality.testing import findings_for
from parapet_cli.doctor.findings import Confidence, Severity

CASES = [
    pytest.param(rule, example, valid, id=f"{rule.ID}-{'VALID' if valid else 'INVALID'}-{i}")
    for rule in RULES
    for valid, examples in ((True, rule.VALID), (False, rule.INVALID))
    for i, example in enumerate(examples)
]


@pytest.mark.parametrize(("rule", "example", "valid"), CASES)
def test_example(rule: type[Rule], example: Example, valid: bool) -> None:
    found = findings_for(rule(), example)
    if valid:
        assert found == [], [f.message for f in found]
        return
    assert found, f"{rule.ID} reported nothing for:\n{example}"
    for f in found:
        assert f.rule == rule.ID
        assert f.severity in (Severity.ERROR, Severity.WARNING)
        assert f.confidence in tuple(Confidence)
        assert f.hint and f.message and f.path and f.line and f.column
        extra = dict(f.extra)
        assert extra["metric"] and extra["label"]
        sources = {"app/example.py": example} if isinstance(example, str) else dict(example)
        lines = sources[f.path].splitlines()
        assert 1 <= f.line <= len(lines)
        assert f.subject.splitlines()[0].endswith(lines[f.line - 1].strip())
        for x in f.related:  # the other places of the same cause point at real lines too
            assert x.line is not None and 1 <= x.line <= len(sources[x.path].splitlines()) and x.message


@pytest.mark.parametrize("rule", RULES, ids=[r.ID for r in RULES])
def test_rule_is_complete(rule: type[Rule]) -> None:
    assert re.fullmatch(r"PAR4\d\d", rule.ID)
    assert len(rule.why()) > 80, "the docstring says why the rule exists"
    assert rule.MESSAGE and rule.FIX and rule.TITLE and rule.NAME
    assert len(rule.VALID) >= 2 and len(rule.INVALID) >= 2
    module = Path(__import__(rule.__module__, fromlist=["_"]).__file__ or "").stem
    assert module.startswith(rule.ID.lower() + "_"), "one module per rule, named after its id"


def test_ids_and_names_are_unique() -> None:
    assert len({r.ID for r in RULES}) == len(RULES)
    assert len({r.NAME for r in RULES}) == len(RULES)
    assert [r.ID for r in RULES] == sorted(r.ID for r in RULES)


# The traps of the issue, spelled out once more so a regression names the trap it fell into.
TRAPS = {
    "class-name f-string": "JOBS.labels(f'{self.__class__.__name__}.run').inc()",
    "enum member": "JOBS.labels(Outcome.OK).inc()",
    "status code": "JOBS.labels(str(resp.status_code)).inc()",
    "allow-list guard": "JOBS.labels(task if task in ALLOWED else 'other').inc()",
    "exception class": "JOBS.labels(type(exc).__name__).inc()",
}


@pytest.mark.parametrize("line", TRAPS.values(), ids=TRAPS.keys())
def test_bounded_traps_are_not_reported(line: str) -> None:
    source = (
        "import enum\nfrom prometheus_client import Counter as C\n"
        'ALLOWED = {"a"}\nJOBS = C("jobs_total", "Jobs.", ["task"])\n'
        "class Outcome(enum.Enum):\n    OK = 'ok'\n"
        "class Worker:\n    def run(self, task, resp, exc):\n"
        f"        {line}\n"
    )
    for rule in RULES:
        assert findings_for(rule(), source) == [], rule.ID
