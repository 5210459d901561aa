"""Run rules on in-memory examples: what the VALID/INVALID tests and rule authors use.

    findings_for(rule, example) -> [Finding]

An example is one source (analysed as ``app/example.py``) or ``{path: source}``; a ``pyproject.toml``
entry is read as the configuration.
"""

from __future__ import annotations

import tomllib

from parapet_cli.analyzers.cardinality.engine import config_from
from parapet_cli.analyzers.cardinality.model import Index
from parapet_cli.analyzers.cardinality.recognize import analyze_source
from parapet_cli.analyzers.cardinality.rule import Example, Rule
from parapet_cli.doctor.findings import Finding

EXAMPLE_PATH = "app/example.py"


def findings_for(rule: Rule, example: Example) -> list[Finding]:
    sources = {EXAMPLE_PATH: example} if isinstance(example, str) else dict(example)
    config = config_from(tomllib.loads(sources.pop("pyproject.toml", "")), "pyproject.toml")
    facts = [analyze_source(path, source) for path, source in sorted(sources.items())]
    broken = [f for f in facts if f.error is not None]
    if broken:
        raise ValueError(f"example does not parse: {broken[0].path}: {broken[0].error}")
    index = Index.build(facts)
    return [finding for f in facts for finding in rule.check(f, index, config)]
