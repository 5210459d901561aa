"""PAR205: every mitigation of a runbook names a function of the repository that takes its parameters."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import PurePosixPath

from parapet.spec.model import Step
from parapet_cli.doctor.checks._spec import loaded_spec, spec_rel
from parapet_cli.doctor.context import Context
from parapet_cli.doctor.findings import Finding, Severity
from parapet_cli.doctor.registry import THIS, Example, check

_SPEC = """\
version: parapet/v1
service: shop
alerting:
  runbook_url: https://ops.example.com/parapet/runbooks/{service}/{slo}
slos:
  - name: availability
    objective: 99.9
    sli:
      http: {}
runbooks:
  - name: payments
    match: {slo: availability}
    steps:
      - mitigation:
          python: shop.ops:restart_workers
          parameters:
            count: {type: %s}
      - mitigation: {python: "shop.ops:%s"}
"""
_OPS = """\
def restart_workers(count: int, queue: str = "default") -> None:
    ...


def drain() -> None:
    ...
"""

EXAMPLES = (
    Example(
        "mismatch-and-missing",
        {"parapet.yaml": _SPEC % ("string", "gone"), "shop/__init__.py": "", "shop/ops.py": _OPS},
        fires=(("parapet.yaml", 17, "error"), ("parapet.yaml", 18, "error")),
    ),
    Example(
        "good",
        {"parapet.yaml": _SPEC % ("integer", "drain"), "shop/__init__.py": "", "shop/ops.py": _OPS},
    ),
    Example(
        "installed-package",  # not in the repository: the runtime checks it when it imports it
        {"parapet.yaml": (_SPEC % ("integer", "drain")).replace("shop.ops", "vendor_ops.tasks")},
        fires=(("parapet.yaml", 15, "info"), ("parapet.yaml", 18, "info")),
    ),
)

_TYPES = {"string": ("str",), "integer": ("int",), "number": ("float", "int"), "boolean": ("bool",)}


@check(
    "PAR205",
    "mitigations",
    examples=EXAMPLES,
    title="A runbook's mitigation names a function that does not exist or does not take its parameters",
    severity=Severity.ERROR,
    fix=(
        "Point python: at package.module:function of the repository, declare every parameter the function needs "
        "(without a default) and give each the type its annotation has (string, integer, number, boolean)."
    ),
)
def mitigations(ctx: Context) -> Iterator[Finding]:
    """A mitigation is what an operator clicks at 3 a.m.: a reference that does not resolve, or a parameter of the
    wrong type, fails then, not in CI. The toolchain never imports host code, so this reads the module's source
    (``ast``) in the repository; ``parapet serve`` and ``parapet worker`` import it and refuse to start with the
    same problem (exit 3). A module outside the repository (an installed package) is only noted."""
    spec, notes = loaded_spec(ctx, THIS)
    yield from notes
    if spec is None or ctx.spec_path is None:
        return
    spec_dir = ctx.rel(ctx.spec_path.parent)
    for runbook in spec.runbooks:
        for step in runbook.steps:
            if step.kind == "mitigation":
                yield from _step(ctx, "" if spec_dir in ("", ".") else spec_dir, step)


def _finding(ctx: Context, step: Step, severity: Severity, message: str, hint: str, line: int | None) -> Finding:
    at = step.location
    return Finding(
        THIS,
        severity,
        message,
        hint,
        path=spec_rel(ctx),
        line=line or (at.line if at else None),
        column=None if line else (at.column if at else None),
        subject=f"{step.python} {message}",
    )


def _module(ctx: Context, base: str, module: str) -> tuple[str, ast.Module] | None:
    parts = module.split(".")
    for prefix in ("", "src", base):
        for candidate in (f"{'/'.join(parts)}.py", f"{'/'.join(parts)}/__init__.py"):
            rel = str(PurePosixPath(prefix) / candidate) if prefix else candidate
            tree = ctx.repo.python(rel) if ctx.repo.exists(rel) else None
            if tree is not None:
                return rel, tree
    return None


def _step(ctx: Context, spec_dir: str, step: Step) -> Iterator[Finding]:
    module, _, name = step.python.partition(":")
    found = _module(ctx, spec_dir, module)
    if found is None:
        yield _finding(
            ctx,
            step,
            Severity.INFO,
            f"{module} is not a module of this repository: {step.python} is checked when the runtime imports it",
            "parapet serve and parapet worker import it at start-up and refuse to start if it does not resolve",
            None,
        )
        return
    rel, tree = found
    function = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name),
        None,
    )
    if function is None:
        yield _finding(ctx, step, Severity.ERROR, f"{rel} defines no function {name}", f"define {name} in {rel}", None)
        return
    args = function.args
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    defaults = len(args.defaults)
    required = {a.arg for a in args.args[len(args.args) - defaults :]} if defaults else set()
    required = {a.arg for a in [*args.posonlyargs, *args.args] if a.arg not in required}
    required |= {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None}
    declared = {p.name: p for p in step.parameters}
    for missing in sorted(required - set(declared)):
        yield _finding(
            ctx,
            step,
            Severity.ERROR,
            f"{step.python} needs the parameter {missing!r}, which is not declared",
            f"declare {missing} under parameters:",
            None,
        )
    by_name = {a.arg: a for a in params}
    for pname, p in declared.items():
        line = p.location.line if p.location else None
        arg = by_name.get(pname)
        if arg is None:
            if args.kwarg is None:
                yield _finding(
                    ctx,
                    step,
                    Severity.ERROR,
                    f"parameter {pname!r} is not a parameter of {step.python}",
                    f"its parameters are: {', '.join(by_name) or '(none)'}",
                    line,
                )
            continue
        annotation = ast.unparse(arg.annotation) if arg.annotation is not None else None
        if annotation is None:
            continue
        names = {part.strip() for part in annotation.replace("Optional[", "").rstrip("]").split("|")} - {"None"}
        if names <= {"str", "int", "float", "bool"} and not names & set(_TYPES[p.type]):
            yield _finding(
                ctx,
                step,
                Severity.ERROR,
                f"parameter type mismatch: {pname!r} is declared {p.type}, but {step.python} takes {annotation}",
                "declare the type the function's annotation has, or change the annotation",
                line,
            )
