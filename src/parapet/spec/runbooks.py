"""Map ``runbooks:`` of a ``parapet/v1`` spec onto the model (``parapet.spec.model.Runbook``), checking what
pydantic cannot: the kind of each step, template placeholders, parameter defaults against their declared
type, where a secret comes from, unique step names.

A step is a mapping of one key, its kind:

    - guidance: "Markdown text"          or  guidance: {text: …, file: runbooks/x.md, title: …}
    - link: {url: "https://…/{labels.queue}", title: …}
    - mitigation: {python: package.module:function, parameters: {…}, timeout: 60s, confirm: true,
                   auto: false, idempotency: "{incident}", breaker: {max_runs: 3, window: 1h, quiet: 30m}}

Whether ``python:`` imports and its signature takes the parameters is checked where host code may be
imported (the runtime, ``parapet.automation.catalog``) and statically by ``parapet doctor`` (PAR205).
``parapet.automation.define`` builds Python-declared runbooks through the same functions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from parapet.spec import v1
from parapet.spec.durations import DurationError, parse_duration
from parapet.spec.model import Breaker, Parameter, Runbook, RunbookMatch, RunbookRef, Step
from parapet.spec.preview import preview
from parapet.spec.source import PathKey, SourceDocument
from parapet.spec.validate import validate

MAX_TIMEOUT: Final = timedelta(minutes=10)  # the "mitigation" job's lease outlives it
STEP_KINDS: Final = ("guidance", "link", "mitigation")
_STEP_MODELS: Final[Mapping[str, type[Any]]] = {
    "guidance": v1.GuidanceV1,
    "link": v1.LinkV1,
    "mitigation": v1.MitigationV1,
}
PLACEHOLDER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z0-9_.-]+))?\}")
# What a template over an incident may name; ``params`` only where the parameters are known (idempotency).
INCIDENT_FIELDS: Final = ("incident", "service", "slo", "alert", "severity", "labels")
_TYPES: Final[Mapping[str, tuple[type, ...]]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}
_TYPE_WORDS: Final = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
}


def build_runbooks(
    doc: SourceDocument, entries: Sequence[v1.RunbookV1 | v1.RunbookRefV1]
) -> tuple[tuple[Runbook, ...], tuple[RunbookRef, ...]]:
    """The spec's runbooks and its references to Python-declared ones; names are unique."""
    built: list[Runbook] = []
    refs: list[RunbookRef] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        loc: PathKey = ("runbooks", index)
        if isinstance(entry, v1.RunbookRefV1):
            refs.append(RunbookRef(entry.python, doc.locate((*loc, "python"))))
            continue
        if entry.name in seen:
            raise doc.error(
                (*loc, "name"), f"duplicate runbook name {preview(entry.name)}", "give each runbook its own name"
            )
        seen.add(entry.name)
        built.append(build_runbook(doc, entry, loc))
    return tuple(built), tuple(refs)


def build_runbook(doc: SourceDocument, entry: v1.RunbookV1, loc: PathKey) -> Runbook:
    match = entry.match
    if match.slo is None and match.alert is None and match.service is None and not match.labels:
        raise doc.error(
            (*loc, "match"),
            "a runbook must match something",
            "give match: at least one of slo, alert, service or labels",
        )
    steps: list[Step] = []
    names: set[str] = set()
    for index, raw in enumerate(entry.steps):
        step = _step(doc, raw, (*loc, "steps", index), index)
        if step.name in names:
            raise doc.error(
                (*loc, "steps", index, step.kind, "name"),
                f"duplicate step name {preview(step.name)}",
                "give each step of a runbook its own name",
            )
        names.add(step.name)
        steps.append(step)
    return Runbook(
        name=entry.name,
        title=entry.title or entry.name,
        description=entry.description,
        match=RunbookMatch(
            slo=match.slo,
            alert=match.alert,
            service=match.service,
            labels=tuple(sorted(match.labels.items())),
        ),
        steps=tuple(steps),
        location=doc.locate((*loc, "name")),
    )


def _step(doc: SourceDocument, raw: Any, loc: PathKey, index: int) -> Step:
    if not isinstance(raw, dict) or not raw:
        raise doc.error(loc, "a step must be a mapping of one kind", f"write one of: {', '.join(STEP_KINDS)}")
    unknown = [k for k in raw if k not in STEP_KINDS]
    if unknown:
        key = unknown[0]
        raise doc.error(
            (*loc, str(key)),
            f"unknown step kind {preview(key)}",
            f"a step is one of: {', '.join(STEP_KINDS)} (one key per step)",
            key=True,
        )
    if len(raw) > 1:
        second = list(raw)[1]
        raise doc.error(
            (*loc, str(second)), "a step has one kind", "split it into one step per kind (a list item each)", key=True
        )
    kind = str(next(iter(raw)))
    body = raw[kind]
    where: PathKey = (*loc, kind)
    if kind == "guidance" and isinstance(body, str):
        body = {"text": body}
    model = validate(_STEP_MODELS[kind], doc, body, where)
    default_name = f"step-{index + 1}"
    if isinstance(model, v1.GuidanceV1):
        if not model.text.strip() and model.file is None:
            raise doc.error(where, "guidance needs text or a file", "write the Markdown, or file: runbooks/x.md")
        return Step(
            kind=kind,
            name=model.name or default_name,
            title=model.title,
            text=model.text,
            file=doc.path.parent / model.file if model.file else None,
            location=doc.locate(where, key=True),
        )
    if isinstance(model, v1.LinkV1):
        check_template(doc, (*where, "url"), model.url, INCIDENT_FIELDS)
        return Step(
            kind=kind,
            name=model.name or default_name,
            title=model.title or model.url,
            url=model.url,
            location=doc.locate(where, key=True),
        )
    assert isinstance(model, v1.MitigationV1)
    parameters = tuple(
        _parameter(doc, (*where, "parameters", name), name, spec) for name, spec in model.parameters.items()
    )
    check_template(doc, (*where, "idempotency"), model.idempotency, (*INCIDENT_FIELDS, "params"), parameters)
    check_template(doc, (*where, "breaker", "target"), model.breaker.target, INCIDENT_FIELDS)
    timeout = _duration(doc, (*where, "timeout"), model.timeout)
    if timeout > MAX_TIMEOUT:
        raise doc.error(
            (*where, "timeout"),
            f"timeout {preview(model.timeout)} is longer than {int(MAX_TIMEOUT.total_seconds() // 60)}m",
            "a mitigation is a quick, bounded action: start a longer job from it and return",
        )
    breaker = Breaker(
        max_runs=model.breaker.max_runs,
        window=_duration(doc, (*where, "breaker", "window"), model.breaker.window),
        quiet=_duration(doc, (*where, "breaker", "quiet"), model.breaker.quiet, zero=True),
        target=model.breaker.target,
    )
    return Step(
        kind=kind,
        name=model.name or model.python.rsplit(":", 1)[1].replace("_", "-"),
        title=model.title or model.python.rsplit(":", 1)[1].replace("_", " "),
        text=model.description,
        python=model.python,
        parameters=parameters,
        timeout=timeout,
        confirm=model.confirm,
        auto=model.auto,
        idempotency=model.idempotency,
        breaker=breaker,
        location=doc.locate((*where, "python")),
    )


def _duration(doc: SourceDocument, loc: PathKey, text: str, *, zero: bool = False) -> Any:
    try:
        value = parse_duration(text)
    except DurationError as exc:
        raise doc.error(loc, exc.message, exc.hint) from None
    if not zero and value.total_seconds() <= 0:
        raise doc.error(loc, f"{preview(text)} must be longer than zero", "write a duration such as 30s, 5m or 1h")
    return value


def _parameter(doc: SourceDocument, loc: PathKey, name: str, spec: v1.ParameterV1) -> Parameter:
    allowed = _TYPES[spec.type]
    word = _TYPE_WORDS[spec.type]

    def fits(value: Any) -> bool:
        return isinstance(value, allowed) and not (spec.type != "boolean" and isinstance(value, bool))

    if spec.secret:
        if (spec.env is None) == (spec.file is None):
            raise doc.error(
                loc,
                f"secret parameter {preview(name)} needs exactly one of env and file",
                "a secret is never written in the spec or typed into a form: name the variable (env: OPS_TOKEN) "
                "or the file (file: secrets/ops-token) it is read from when the step runs",
            )
        if spec.default is not None:
            raise doc.error(
                (*loc, "default"), "a secret parameter has no default", "read it from env: or file: instead"
            )
        if spec.type != "string":
            raise doc.error((*loc, "type"), "a secret parameter is a string", "drop type:, or write type: string")
    elif spec.env is not None or spec.file is not None:
        raise doc.error(
            (*loc, "env" if spec.env is not None else "file"),
            f"only a secret parameter is read from {'env' if spec.env is not None else 'file'}",
            "add secret: true, or give the value as default:",
        )
    if spec.default is not None and not fits(spec.default):
        is_template = isinstance(spec.default, str) and PLACEHOLDER.search(spec.default)
        if not (is_template and spec.type != "boolean"):
            raise doc.error(
                (*loc, "default"),
                f"parameter {preview(name)} is {spec.type}, but its default {preview(spec.default)} is not {word}",
                f"write {word} as the default, or change type:",
            )
    if isinstance(spec.default, str):
        check_template(doc, (*loc, "default"), spec.default, INCIDENT_FIELDS)
    for i, choice in enumerate(spec.choices or ()):
        if not fits(choice):
            raise doc.error(
                (*loc, "choices", i),
                f"choice {preview(choice)} of parameter {preview(name)} is not {word}",
                f"every choice of a {spec.type} parameter is {word}",
            )
    if (spec.minimum is not None or spec.maximum is not None) and spec.type not in ("integer", "number"):
        raise doc.error(
            loc,
            f"minimum and maximum apply to numbers, and {preview(name)} is {spec.type}",
            "drop minimum and maximum, or declare type: integer or number",
        )
    return Parameter(
        name=name,
        type=spec.type,
        description=spec.description,
        default=spec.default,
        required=spec.required,
        choices=tuple(spec.choices or ()),
        minimum=spec.minimum,
        maximum=spec.maximum,
        secret=spec.secret,
        env=spec.env,
        file=(doc.path.parent / spec.file) if spec.file else None,
        location=doc.locate(loc, key=True),
    )


def check_template(
    doc: SourceDocument,
    loc: PathKey,
    template: str,
    allowed: Sequence[str],
    parameters: Sequence[Parameter] = (),
) -> None:
    """Every ``{name}`` / ``{labels.x}`` / ``{params.x}`` placeholder of ``template`` is one Parapet fills."""
    for found in PLACEHOLDER.finditer(template):
        root, sub = found.group(1), found.group(2)
        problem = None
        if root not in allowed:
            problem = f"unknown placeholder {preview(found.group(0))}"
        elif root in ("labels", "params") and not sub:
            problem = f"{preview(found.group(0))} needs a name: {{{root}.NAME}}"
        elif root not in ("labels", "params") and sub:
            problem = f"{preview(found.group(0))}: {root} has no fields"
        elif root == "params" and sub not in {p.name for p in parameters}:
            problem = f"{preview(found.group(0))} names no parameter of this step"
        if problem:
            names = ", ".join("{" + (f"{a}.NAME" if a in ("labels", "params") else a) + "}" for a in allowed)
            raise doc.error(loc, problem, f"a template may use {names}")


def document_for(path: Path, line: int) -> SourceDocument:
    """A stand-in source for runbooks declared in Python: every field is reported at the defining call."""
    doc = SourceDocument(path=path, data=None)
    doc.values[()] = (line, 1)
    return doc
