"""Register every cardinality rule as a doctor check (family ``cardinality``, ids PAR4xx).

Each check runs the shared analysis once per doctor run (cached on the context) and reports its own rule's
findings, so ``parapet doctor cardinality`` and ``parapet doctor PAR403`` both work through the same runner,
suppressions, fingerprints and output formats as every other check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from parapet_cli.analyzers.cardinality.engine import OPTIONS, Analysis, analyze, load_config, run_rules, select_files
from parapet_cli.analyzers.cardinality.rule import Config, Rule
from parapet_cli.analyzers.cardinality.rules import RULES
from parapet_cli.doctor.context import Context
from parapet_cli.doctor.findings import Finding
from parapet_cli.doctor.registry import check

FAMILY = "cardinality"
_CACHE = "_parapet_cardinality"


def _analysis(ctx: Context) -> tuple[Analysis, Config]:
    cached = ctx.__dict__.get(_CACHE)
    if cached is None:
        options = OPTIONS.get()
        config = load_config(ctx.root)
        files = select_files(ctx.root, ctx.repo.files, options.paths)
        analysis = analyze(ctx.root, files, options.jobs, cache=options.cache)
        for facts in analysis.files:
            ctx.repo.text(facts.path)  # read once through the repository, so its inline suppressions apply
        cached = (analysis, config)
        ctx.__dict__[_CACHE] = cached
    result: tuple[Analysis, Config] = cached
    return result


def _runner(rule: Rule) -> Callable[[Context], Iterable[Finding]]:
    def run(ctx: Context) -> Iterable[Finding]:
        analysis, config = _analysis(ctx)
        out = run_rules(analysis, [rule], config)
        if not analysis.notes_reported:
            analysis.notes_reported = True
            out.extend(analysis.notes)
        return out

    run.__doc__ = type(rule).__doc__
    run.__name__ = f"check_{rule.ID.lower()}"
    return run


for _rule in RULES:
    check(_rule.ID, _rule.NAME, title=_rule.TITLE, severity=_rule.SEVERITY, fix=_rule.FIX, family=FAMILY)(
        _runner(_rule())
    )
