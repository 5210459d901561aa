"""Run rules on in-memory examples: what the VALID/INVALID tests and rule authors use.

    findings_for(rule, example) -> [Finding]

An example is one source (analysed as ``app/example.py``) or ``{path: source}``. A ``pyproject.toml`` entry is
read as the configuration; a ``parapet.yaml`` entry is loaded as the spec, whose ``doctor: cardinality:``
section wins over pyproject.toml as it does in a real run, and whose SLOs the rule's ``check_spec`` reads.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from parapet.spec import load_spec
from parapet_cli.analyzers.cardinality.config import config_from, with_spec
from parapet_cli.analyzers.cardinality.model import Index
from parapet_cli.analyzers.cardinality.recognize import analyze_source
from parapet_cli.analyzers.cardinality.rule import Example, Rule, SpecInput
from parapet_cli.doctor.findings import Finding

EXAMPLE_PATH = "app/example.py"
SPEC_PATH = "parapet.yaml"


def findings_for(rule: Rule, example: Example) -> list[Finding]:
    sources = {EXAMPLE_PATH: example} if isinstance(example, str) else dict(example)
    config = config_from(tomllib.loads(sources.pop("pyproject.toml", "")), "pyproject.toml")
    spec_text = sources.pop(SPEC_PATH, None)
    spec = None
    if spec_text is not None:
        spec = SpecInput(SPEC_PATH, spec_text, load_spec(Path(SPEC_PATH), spec_text))
        if spec.spec.cardinality is not None:
            config = with_spec(config, spec.spec.cardinality)
    facts = [analyze_source(path, source, config.wrappers) for path, source in sorted(sources.items())]
    broken = [f for f in facts if f.error is not None]
    if broken:
        raise ValueError(f"example does not parse: {broken[0].path}: {broken[0].error}")
    index = Index.build(facts)
    found = rule.check_files(facts, index, config)
    if spec is not None:
        found += rule.check_spec(spec, index, config)
    return found
