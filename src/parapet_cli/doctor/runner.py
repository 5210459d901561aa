"""Run the selected checks over a repository and collect one ``Report``.

    run_doctor(root, spec_path, selectors, fail_on) -> Report

Suppressions are applied here, the same way for every check:

- inline, on the finding's line or alone on the line above: ``# parapet: ignore[PAR106] reason=internal port``;
- in the spec: ``doctor: ignore: [{rule: PAR106, path: "app/*.py", reason: …}]``.

Each needs a reason. An inline comment without one suppresses nothing and is reported (PAR001); an inline
suppression of a check that ran and found nothing there is reported as unused (PAR002).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import traceback
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from parapet.errors import ConfigError, SpecError, UserError
from parapet.spec import load_spec
from parapet_cli.doctor.context import Context
from parapet_cli.doctor.findings import Finding, Severity, fingerprint
from parapet_cli.doctor.registry import Check, CheckInfo, note, select
from parapet_cli.doctor.repo import InlineSuppression, Repo
from parapet_cli.doctor.topology import Topology

NO_REASON = note(
    "PAR001",
    "suppression-without-reason",
    title="An inline suppression gives no reason",
    severity=Severity.WARNING,
    why=(
        "A suppression is a decision someone has to be able to revisit. Without a reason nobody can tell a "
        "deliberate exception from a shortcut, so a suppression without one suppresses nothing."
    ),
    fix="Write the reason after the ids: # parapet: ignore[PAR106] reason=metrics port is not routed by the ingress",
)
UNUSED = note(
    "PAR002",
    "unused-suppression",
    title="An inline suppression matches no finding",
    severity=Severity.INFO,
    why="A suppression left behind after the code changed hides the next real finding on that line.",
    fix="Remove the comment, or move it to the line the finding points at.",
)


@dataclass(frozen=True)
class Reported:
    finding: Finding
    fingerprint: str
    suppressed: str | None = None  # "inline" or "spec"
    reason: str | None = None


@dataclass
class Report:
    root: Path
    results: list[Reported]
    checks: list[CheckInfo]
    fail_on: Severity
    topology: Topology | None
    spec_path: Path | None

    @property
    def active(self) -> list[Reported]:
        return [r for r in self.results if r.suppressed is None]

    @property
    def suppressed(self) -> list[Reported]:
        return [r for r in self.results if r.suppressed is not None]

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Severity}
        for r in self.active:
            out[r.finding.severity.value] += 1
        return out

    @property
    def failed(self) -> list[Reported]:
        return [r for r in self.active if r.finding.severity.rank >= self.fail_on.rank]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def find_spec(root: Path, spec: Path | None) -> Path | None:
    if spec is not None:
        if not spec.exists():
            raise ConfigError(f"spec file not found: {spec}", hint="pass an existing --spec, or leave it out")
        return spec
    for name in ("parapet.yaml", "parapet.yml"):
        if (root / name).is_file():
            return root / name
    return None


def run_doctor(
    root: Path,
    *,
    spec: Path | None = None,
    selectors: tuple[str, ...] | list[str] = (),
    fail_on: Severity = Severity.ERROR,
    options: Iterable[object] = (),
    cache: bool = False,
) -> Report:
    """Run the selected checks; ``options`` are handed to them through ``Context.option`` (the cardinality
    analyzer's ``Options``, say)."""
    if not root.is_dir():
        raise ConfigError(f"not a directory: {root}", hint="pass the repository's root with --root")
    checks = select(selectors)
    spec_path = find_spec(root, spec)
    wants = {c.info.id: c.python for c in checks}
    ctx = Context(root=root, repo=Repo(root), spec_path=spec_path, options=tuple(options), wants=wants, cache=cache)
    if spec_path is not None:
        try:
            ctx.spec = load_spec(spec_path)
        except SpecError as exc:
            ctx.spec_error = exc
    findings: list[Finding] = []
    for check in checks:
        findings.extend(_run_check(check, ctx))
    findings.extend(ctx.repo.notes)
    ran = {c.info.id for c in checks}
    results = _suppress(ctx, findings, ran)
    topology = ctx.__dict__.get("topology")
    return Report(root, results, [c.info for c in checks], fail_on, topology, spec_path)


def _run_check(check: Check, ctx: Context) -> list[Finding]:
    """The check's findings; a check that fails on input nobody foresaw reports that, and the others still run."""
    ctx.py.focus = check.info.id  # ctx.py.modules: the modules this check wants
    try:
        return [f if f.rule else dataclasses.replace(f, rule=check.info.id) for f in check.run(ctx)]
    except UserError:
        raise
    except Exception as exc:  # a bug in one check must not hide the results of the others
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return [
            Finding(
                check.info.id,
                Severity.ERROR,
                f"the check failed: {type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})",
                "this is a bug in Parapet: please report it with the file the check was reading",
                subject=f"internal error {type(exc).__name__}",
            )
        ]
    finally:
        ctx.py.focus = None


def _covers(s: InlineSuppression, f: Finding) -> bool:
    if f.path != s.path or f.line is None or f.rule not in s.rules:
        return False
    return f.line == s.line or (s.own_line and f.line == s.line + 1)


def _about(s: InlineSuppression, rel: str, rule: CheckInfo, severity: Severity, problem: str) -> Finding:
    """The runner's own finding about an inline suppression (no reason, or nothing to suppress)."""
    return Finding(
        rule.id,
        severity,
        f"suppression of {', '.join(s.rules)} {problem}",
        rule.fix,
        path=rel,
        line=s.line,
        subject=",".join(s.rules),
    )


def _suppress(ctx: Context, findings: list[Finding], ran: set[str]) -> list[Reported]:
    inline: dict[str, list[InlineSuppression]] = {}
    for f in findings:
        if f.path is not None and f.path not in inline:
            inline[f.path] = ctx.repo.inline_suppressions(f.path)
    for rel in ctx.repo.files:
        if rel not in inline:
            inline[rel] = ctx.repo.inline_suppressions(rel)
    spec_rules = ctx.spec.suppressions if ctx.spec is not None else ()
    used: set[tuple[str, int]] = set()
    extra: list[Finding] = []
    for rel, entries in inline.items():
        for s in entries:
            if not s.reason:
                extra.append(_about(s, rel, NO_REASON, Severity.WARNING, "has no reason, so it suppresses nothing"))
    out: list[tuple[Finding, str | None, str | None]] = []
    for f in [*findings, *extra]:
        how: str | None = None
        reason: str | None = None
        for s in inline.get(f.path or "", []):
            if s.reason and _covers(s, f):
                how, reason = "inline", s.reason
                used.add((s.path, s.line))
                break
        if how is None:
            for rule in spec_rules:
                if rule.rule == f.rule and (rule.path is None or fnmatch.fnmatch(f.path or "", rule.path)):
                    how, reason = "spec", rule.reason
                    break
        out.append((f, how, reason))
    for rel, entries in inline.items():
        for s in entries:
            if s.reason and (s.path, s.line) not in used and any(r in ran for r in s.rules):
                out.append((_about(s, rel, UNUSED, Severity.INFO, "matches no finding"), None, None))
    out.sort(key=lambda t: (-t[0].severity.rank, t[0].path or "", t[0].line or 0, t[0].rule, t[0].message))
    seen: Counter[tuple[str, str, str]] = Counter()
    results = []
    for f, how, reason in out:
        key = (f.rule, f.path or "", " ".join((f.subject or f.message).split()))
        results.append(Reported(f, fingerprint(f, seen[key]), how, reason))
        seen[key] += 1
    return results
