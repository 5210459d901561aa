"""The runbooks the runtime knows: the spec's, and those declared in Python, in one model.

    define(name, match=…, steps=[…])   a runbook declared in Python; validated exactly as the spec's ``runbooks:``
                                       (errors name the file and line of the call)
    load_catalog(spec)                 the spec's runbooks plus its ``- python: pkg.mod:NAME`` references, every
                                       mitigation's callable imported and its signature checked against the
                                       declared parameters (SpecError at the spec's line: exit 3 at start-up)
    Catalog.for_incident(incident)     the runbooks that attach to an incident (slo, alert, service, labels)

The toolchain never imports host code: ``parapet doctor`` (PAR205) checks the same references statically.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from parapet.errors import Location, SpecError
from parapet.evidence.store import Incident
from parapet.spec import v1
from parapet.spec.model import Runbook, RunbookRef, Spec, Step
from parapet.spec.runbooks import build_runbook, document_for
from parapet.spec.validate import validate

_ANNOTATIONS: dict[str, tuple[Any, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (float, int),
    "boolean": (bool,),
}


def define(
    name: str,
    *,
    match: Mapping[str, Any],
    steps: Sequence[Mapping[str, Any]],
    title: str = "",
    description: str = "",
) -> Runbook:
    """A runbook declared in Python, in the spec's own terms (``steps`` as the YAML writes them)."""
    caller = inspect.stack()[1]
    doc = document_for(Path(caller.filename), caller.lineno)
    data = {
        "name": name,
        "match": dict(match),
        "steps": [dict(s) for s in steps],
        "title": title,
        "description": description,
    }
    return build_runbook(doc, validate(v1.RunbookV1, doc, data), ())


def matches(runbook: Runbook, incident: Incident) -> bool:
    m = runbook.match
    if m.slo is not None and incident.slo != m.slo:
        return False
    if m.alert is not None and incident.alert_name != m.alert:
        return False
    if m.service is not None and incident.service != m.service:
        return False
    return all(str(incident.labels.get(k)) == v for k, v in m.labels)


@dataclass(frozen=True)
class Catalog:
    runbooks: tuple[Runbook, ...] = ()
    callables: Mapping[str, Callable[..., Any]] | None = None

    def for_incident(self, incident: Incident) -> list[Runbook]:
        return [r for r in self.runbooks if matches(r, incident)]

    def get(self, runbook: str) -> Runbook | None:
        return next((r for r in self.runbooks if r.name == runbook), None)

    def step(self, runbook: str, step: str) -> tuple[Runbook, Step] | None:
        found = self.get(runbook)
        if found is None:
            return None
        s = found.step(step)
        return (found, s) if s is not None else None

    @property
    def automatic(self) -> bool:
        return any(s.auto for r in self.runbooks for s in r.steps)


EMPTY = Catalog()


def load_catalog(spec: Spec | None, *, check_callables: bool = True) -> Catalog:
    if spec is None:
        return EMPTY
    runbooks = list(spec.runbooks)
    for ref in spec.runbook_refs:
        runbooks.extend(_resolve_ref(ref, spec))
    names: set[str] = set()
    for r in runbooks:
        if r.name in names:
            raise SpecError(
                f"duplicate runbook name {r.name!r}",
                location=r.location or Location(spec.path),
                hint="a runbook declared in Python and one in the spec share a name: rename one",
            )
        names.add(r.name)
    callables: dict[str, Callable[..., Any]] = {}
    if check_callables:
        base = str(spec.path.parent.resolve())
        for r in runbooks:
            for s in r.steps:
                if s.kind == "mitigation" and s.python not in callables:
                    callables[s.python] = resolve_callable(s, base)
    return Catalog(tuple(runbooks), callables)


def _import(ref: str, location: Location | None, base: str, what: str) -> Any:
    module_name, _, attr = ref.partition(":")
    if base not in sys.path:
        sys.path.append(base)  # the spec's directory: the host's own packages beside parapet.yaml
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure of host code is the reference's problem
        raise SpecError(
            f"cannot import {module_name!r} for {what} {ref!r}: {type(exc).__name__}: {exc}",
            location=location or Location(None),
            hint="check the module path (package.module:function) and that the package is installed or beside the spec",
        ) from None
    found = getattr(module, attr, None)
    if found is None:
        raise SpecError(
            f"{module_name!r} has no {attr!r} ({what} {ref!r})",
            location=location or Location(None),
            hint=f"define {attr} in {module_name}, or fix the name after the ':'",
        )
    return found


def _resolve_ref(ref: RunbookRef, spec: Spec) -> list[Runbook]:
    found = _import(ref.python, ref.location, str(spec.path.parent.resolve()), "runbooks")
    items = found if isinstance(found, list | tuple) else [found]
    if not items or not all(isinstance(i, Runbook) for i in items):
        raise SpecError(
            f"{ref.python!r} is not a runbook (or a list of runbooks)",
            location=ref.location or Location(spec.path),
            hint="build it with parapet.automation.define(...)",
        )
    return list(items)


def resolve_callable(step: Step, base: str) -> Callable[..., Any]:
    """Import the step's callable and check its signature against the declared parameters."""
    function = _import(step.python, step.location, base, "mitigation")
    if not callable(function):
        raise SpecError(
            f"{step.python!r} is not callable", location=step.location or Location(None), hint="point at a function"
        )
    check_signature(step, function)
    return typing.cast(Callable[..., Any], function)


def check_signature(step: Step, function: Callable[..., Any]) -> None:
    try:
        signature = inspect.signature(function)
        hints = typing.get_type_hints(function)
    except (TypeError, ValueError, NameError):
        return  # a builtin or unresolvable annotations: nothing to compare
    params = signature.parameters
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    declared = {p.name: p for p in step.parameters}
    where = step.location or Location(None)
    for name, param in params.items():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if param.default is inspect.Parameter.empty and name not in declared:
            raise SpecError(
                f"{step.python} needs the parameter {name!r}, which step {step.name!r} does not declare",
                location=where,
                hint=f"declare it under parameters: ({name}: {{type: …}}), or give it a default in the function",
            )
    for name, p in declared.items():
        at = p.location or where
        if name not in params and not var_kw:
            raise SpecError(
                f"parameter {name!r} is not a parameter of {step.python}",
                location=at,
                hint=f"its parameters are: {', '.join(params) or '(none)'}",
            )
        annotation = hints.get(name)
        if annotation is None:
            continue
        accepted = _accepted(annotation)
        if accepted is not None and not any(a in accepted for a in _ANNOTATIONS[p.type]):
            names = ", ".join(sorted(getattr(a, "__name__", str(a)) for a in accepted))
            raise SpecError(
                f"parameter type mismatch: {name!r} is declared {p.type}, but {step.python} takes {names}",
                location=at,
                hint=f"declare type: {_spec_type(accepted)} or change the function's annotation",
            )


def _accepted(annotation: Any) -> set[Any] | None:
    """The plain types an annotation accepts (None for Any or something not comparable)."""
    if annotation is Any:
        return None
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _accepted(typing.get_args(annotation)[0])
    if origin in (typing.Union, __import__("types").UnionType):
        out: set[Any] = set()
        for arg in typing.get_args(annotation):
            if arg is type(None):
                continue
            sub = _accepted(arg)
            if sub is None:
                return None
            out |= sub
        return out
    if origin is typing.Literal:
        return {type(v) for v in typing.get_args(annotation)}
    if isinstance(annotation, type) and annotation in (str, int, float, bool):
        return {annotation}
    return None


def _spec_type(accepted: set[Any]) -> str:
    for word, types in _ANNOTATIONS.items():
        if types[0] in accepted:
            return word
    return "string"


__all__ = ["Catalog", "ValidationError", "define", "load_catalog", "matches"]
