"""Register every cardinality rule as a doctor check (family ``cardinality``, ids PAR4xx).

Each check runs the shared analysis once per doctor run (``Context.shared``) and reports its own rule's
findings, so ``parapet doctor cardinality`` and ``parapet doctor PAR403`` both work through the same runner,
suppressions, fingerprints and output formats as every other check. The configuration is pyproject.toml's
``[tool.parapet.cardinality]`` under the loaded spec's ``doctor: cardinality:``; rules that read the spec
(``Rule.check_spec``) get it when it loads (a spec that does not load is PAR201's to report).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from parapet_cli.analyzers.cardinality.config import Config, load_config
from parapet_cli.analyzers.cardinality.engine import Analysis, Options, analyze, run_rules, select_files
from parapet_cli.analyzers.cardinality.rule import Rule, SpecInput
from parapet_cli.analyzers.cardinality.rules import RULES
from parapet_cli.doctor.context import Context
from parapet_cli.doctor.findings import Finding
from parapet_cli.doctor.registry import check

FAMILY = "cardinality"


def _spec(ctx: Context) -> SpecInput | None:
    """The loaded spec and its text, read through the repository (so inline suppressions in it apply)."""
    if ctx.spec is None or ctx.spec_path is None:
        return None
    rel = ctx.rel(ctx.spec_path)
    text = ctx.repo.text(rel) if not Path(rel).is_absolute() else None
    if text is None:
        try:
            text = ctx.spec_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    return SpecInput(rel, text, ctx.spec)


def _analysis(ctx: Context) -> tuple[Analysis, Config, SpecInput | None]:
    """The analysis every cardinality check of one run shares (``ctx.shared(_analysis)``)."""
    options = ctx.option(Options, Options())
    config = load_config(ctx.root, ctx.spec)
    files = select_files(ctx.root, ctx.repo.files, options.paths)
    analysis = analyze(ctx.root, files, options.jobs, cache=options.cache, config=config, progress=options.progress)
    for facts in analysis.files:
        ctx.repo.text(facts.path)  # read once through the repository, so its inline suppressions apply
    return analysis, config, _spec(ctx)


def _runner(rule: Rule) -> Callable[[Context], Iterable[Finding]]:
    def run(ctx: Context) -> Iterable[Finding]:
        analysis, config, spec = ctx.shared(_analysis)
        out = run_rules(analysis, [rule], config)
        if spec is not None:
            out.extend(rule.check_spec(spec, analysis.index, config))
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
