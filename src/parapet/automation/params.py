"""A mitigation's parameters: a pydantic model built from the spec's declaration, the values a form (or the
automation) gives, the secrets read when the step runs, and the masking that keeps secrets out of every record.

    form_fields(step, incident)        the fields a confirm page shows (defaults filled over the incident)
    validate_values(step, raw, incident)  -> dict of typed values, or raise ParameterErrors (field -> message)
    read_secrets(step)                 -> dict of secret values, from env or file, at run time only
    redacted(step, values)             the values as recorded: secret parameters as "***"
    mask(text, secrets)                text with every secret value replaced by "***"

Secret parameters are never typed into a form and never stored: a value typed into a form would have to
cross the database (the job's payload) to reach the process that runs the step.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from parapet.automation.templates import fill
from parapet.errors import ConfigError
from parapet.evidence.store import Incident
from parapet.spec.model import Parameter, Step

MASK: Final = "***"
_PY_TYPES: Final[Mapping[str, type]] = {"string": str, "integer": int, "number": float, "boolean": bool}


class ParameterErrors(ValueError):
    """Values a form gave that do not fit the declared parameters: ``errors`` maps field -> message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


class SecretParameterUnavailable(ConfigError):
    """A secret parameter's variable is unset or its file cannot be read when the step runs."""


@dataclass(frozen=True)
class FormField:
    name: str
    type: str
    value: str
    description: str
    required: bool
    choices: tuple[str, ...]


def visible(step: Step) -> tuple[Parameter, ...]:
    return tuple(p for p in step.parameters if not p.secret)


def default_of(param: Parameter, incident: Incident) -> Any:
    if isinstance(param.default, str):
        return fill(param.default, incident)
    return param.default


def form_fields(step: Step, incident: Incident, given: Mapping[str, str] | None = None) -> list[FormField]:
    out = []
    for p in visible(step):
        default = default_of(p, incident)
        value = (given or {}).get(p.name)
        if value is None:
            value = (
                ""
                if default is None
                else ("true" if default is True else "false" if default is False else str(default))
            )
        out.append(FormField(p.name, p.type, value, p.description, p.required, tuple(str(c) for c in p.choices)))
    return out


@functools.cache
def model_for(step: Step) -> type[BaseModel]:
    """The pydantic model of the step's visible parameters (strict about unknown names), built once per step."""
    fields: dict[str, Any] = {}
    for p in visible(step):
        annotation: Any = _PY_TYPES[p.type]
        if not p.required:
            annotation = annotation | None
        constraints: dict[str, Any] = {}
        if p.minimum is not None:
            constraints["ge"] = p.minimum
        if p.maximum is not None:
            constraints["le"] = p.maximum
        fields[p.name] = (annotation, Field(... if p.required else None, **constraints))
    return create_model(f"Parameters_{step.name.replace('-', '_')}", __config__=ConfigDict(extra="forbid"), **fields)


def validate_values(step: Step, raw: Mapping[str, Any], incident: Incident) -> dict[str, Any]:
    """Typed values for the step's visible parameters: given ones (form text or typed), else defaults."""
    data: dict[str, Any] = {}
    for p in visible(step):
        value = raw.get(p.name)
        if value is None or value == "":
            value = default_of(p, incident)
        if isinstance(value, str) and p.type == "boolean":
            value = {"true": True, "on": True, "yes": True, "false": False, "off": False, "no": False}.get(
                value.strip().lower(), value
            )
        data[p.name] = value
    errors: dict[str, str] = {}
    try:
        values = model_for(step).model_validate(data).model_dump()
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            name = str(err["loc"][0]) if err["loc"] else "parameters"
            errors.setdefault(name, _message(err))
        raise ParameterErrors(errors) from None
    for p in visible(step):
        if p.choices and values[p.name] is not None and values[p.name] not in p.choices:
            errors[p.name] = "choose one of " + ", ".join(str(c) for c in p.choices)
    if errors:
        raise ParameterErrors(errors)
    return values


def _message(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return "required"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "must be a whole number"
    if kind in ("float_parsing", "float_type"):
        return "must be a number"
    if kind in ("bool_parsing", "bool_type"):
        return "must be true or false"
    return str(err["msg"]).lower().replace("input should be", "must be")


def read_secrets(step: Step) -> dict[str, str]:
    """The secret parameters' values, read now (never stored)."""
    out: dict[str, str] = {}
    for p in step.parameters:
        if not p.secret:
            continue
        if p.env is not None:
            value = os.environ.get(p.env)
            if not value:
                raise SecretParameterUnavailable(
                    f"secret parameter {p.name!r} of step {step.name!r}: the variable {p.env} is not set",
                    hint=f"set {p.env} in the environment of every process that runs mitigations",
                )
            out[p.name] = value
        elif p.file is not None:
            try:
                out[p.name] = p.file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SecretParameterUnavailable(
                    f"secret parameter {p.name!r} of step {step.name!r}: cannot read {p.file} ({exc.strerror})",
                    hint="check that the file exists and this process may read it",
                ) from None
    return out


def redacted(step: Step, values: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in values.items()}
    for p in step.parameters:
        if p.secret:
            out[p.name] = MASK
    return out


def mask(text: str | None, secrets: Iterable[str]) -> str | None:
    if text is None:
        return None
    for value in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(value, MASK)
    return text
