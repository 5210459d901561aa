"""Turn pydantic validation errors into one SpecError naming ``file:line:col``, the field and a hint."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, Tag, ValidationError

from parapet.errors import Location, SpecError
from parapet.spec.preview import describe, preview
from parapet.spec.source import PathKey, SourceDocument, format_path

M = TypeVar("M", bound=BaseModel)

_PATTERN_HINTS = {
    "name": "use letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    "service": "use letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    "period": "write a whole number of days or weeks, such as 30d, 28d or 4w",
    "for": "write a duration such as 2m, 15m or 1h",
    "max_age": "write a duration such as 30m, 1h or 1d",
    "histogram": "give the histogram's base name, without _bucket or _count",
    "token_env": "give an environment variable's name: letters, digits and '_', not starting with a digit",
    "users": "map Slack user ids (U012ABCDEF, from the user's Slack profile) to Parapet user names",
}


def validate(
    model: type[M], doc: SourceDocument, data: Any, base: PathKey = (), *, tags: frozenset[str] = frozenset()
) -> M:
    """Validate ``data`` (found at ``base`` in ``doc``) against ``model``; raise SpecError on the first problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # an unknown key is usually a typo of a missing one: report it first, with its suggestion
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        loc = _strip_tags(tuple(first["loc"]), data, tags)
        message, hint, at_key = _describe(model, first, loc, tuple(first["loc"]))
        more = len({_strip_tags(tuple(e["loc"]), data, tags) for e in errors}) - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        full = (*base, *loc)
        if first["type"] == "missing":
            # point at the mapping that lacks the key, but name the missing field
            at = doc.locate(full[:-1])
            location = Location(at.path, at.line, at.column, format_path(full))
            raise SpecError(message, location=location, hint=hint) from None
        raise doc.error(full, message, hint, key=at_key) from None


def _strip_tags(loc: tuple[Any, ...], data: Any, tags: frozenset[str]) -> PathKey:
    """Drop the discriminator tags pydantic inserts after a list index, and the member names it inserts in a
    plain union (``absent.AbsentAlert.for``)."""
    out: list[str | int] = []
    node = data
    previous: Any = None
    for i, part in enumerate(loc):
        if isinstance(part, str) and part in tags and isinstance(previous, int):
            previous = part
            continue  # a discriminator tag follows the list index of a tagged union
        if isinstance(part, str) and isinstance(node, dict) and part not in node and i < len(loc) - 1:
            continue  # not a key of the mapping, and more follows: the name of the union member tried
        previous = part
        if isinstance(part, str) and not isinstance(node, dict) and not isinstance(node, list):
            break  # the rest names union members (constrained-int, literal[...]), not fields
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out)


def _describe(
    model: type[BaseModel], error: Any, loc: PathKey, tagged: tuple[Any, ...]
) -> tuple[str, str | None, bool]:
    """Message, hint and whether to point at the key, for pydantic's ``error`` at ``loc`` (``tagged``: the
    same path with the tags of discriminated unions, which say which member a mapping was read as)."""
    kind = error["type"]
    field = str(loc[-1]) if loc and isinstance(loc[-1], str) else ""  # a list item has no name of its own
    value = error.get("input")
    if kind == "extra_forbidden":
        # never suggest the key being refused (another member of a union may allow it: filter on a pack)
        allowed = sorted(allowed_keys(model, tagged[:-1]) - {field})
        if f"{field}_env" in allowed:
            return (
                f"{preview(field)} is a secret: it is never written in the spec",
                f"give {field}_env (an environment variable's name) or {field}_file (a file holding it)",
                True,
            )
        close = difflib.get_close_matches(field, allowed, n=1)
        hint = (f"did you mean {preview(close[0])}? " if close else "") + (
            f"allowed keys here: {', '.join(allowed)}" if allowed else "remove it"
        )
        return f"unknown key {preview(field)}", hint, True
    if kind == "string_pattern_mismatch" and tagged and tagged[-1] == "[key]":
        parent = str(loc[-2]) if len(loc) > 1 else ""
        return (
            f"{preview(value)} is not a valid key of {parent}",
            _PATTERN_HINTS.get(parent, "see docs/spec.md for the format"),
            True,
        )
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        tags = error.get("ctx", {}).get("expected_tags", "")
        what = "missing kind" if kind == "union_tag_not_found" else f"unknown kind {preview(_tag_value(value))}"
        return what, f"write kind: one of {tags}", False
    if kind == "missing":
        return f"missing required key {preview(field)}", f"add {field}: to this mapping (see docs/spec.md)", False
    if kind == "string_pattern_mismatch" and field == "name" and "alerting" in loc:
        return (
            f"{preview(value)} is not a valid alert name",
            "an alert name is letters, digits and '_' (no '-' or '.')",
            False,
        )
    if kind == "string_pattern_mismatch":
        return (
            f"{preview(value)} is not a valid {field}",
            _PATTERN_HINTS.get(field, "see docs/spec.md for the format"),
            False,
        )
    if kind in ("greater_than", "less_than", "greater_than_equal", "less_than_equal"):
        if field == "objective" or field == "availability":
            return (
                f"objective {preview(value)} is out of range",
                "an objective is a percentage strictly between 0 and 100, such as 99.9",
                False,
            )
        bound = error["msg"].lower().removeprefix("input should be ")
        return f"{field} {preview(value)} is out of range", f"use a value {bound}", False
    if kind == "literal_error":
        return f"{preview(value)} is not allowed for {field}: {error['msg']}", None, False
    if kind == "too_short" and field == "slos":
        return "no SLOs defined", "add at least one entry under slos:", False
    if kind == "too_short":
        least = error.get("ctx", {}).get("min_length", 1)
        return (
            f"{field or 'this list'} needs at least {least} item{'s' if least != 1 else ''}",
            f"add an entry under {field}: (see docs/spec.md)" if field else "add an item to the list",
            False,
        )
    if kind.endswith("_type") or kind.endswith("_parsing") or kind == "model_attributes_type":
        expected = {
            "dict_type": "a mapping",
            "model_attributes_type": "a mapping",
            "model_type": "a mapping",
            "list_type": "a list",
            "string_type": "a string",
            "float_parsing": "a number",
            "float_type": "a number",
            "int_parsing": "a whole number",
            "int_type": "a whole number",
            "bool_type": "true or false",
            "bool_parsing": "true or false",
        }.get(kind, error["msg"].lower().removeprefix("input should be "))
        return (
            f"{field + ' ' if field else ''}must be {expected}, got {describe(value)}",
            {
                "a mapping": "write key: value pairs indented under it (see docs/spec.md)",
                "a list": "write the items as a list, one '- item' per line or [a, b]",
            }.get(expected, "fix the value's type (quote text that YAML would read otherwise)"),
            False,
        )
    return f"{field}: {error['msg']}", None, False


def _tag_value(value: Any) -> Any:
    return value.get("kind") if isinstance(value, dict) else value


def allowed_keys(model: type[BaseModel], loc: PathKey) -> set[str]:
    """The keys a mapping at ``loc`` (relative to ``model``) accepts, or an empty set if unknown."""
    current: Any = model
    for part in loc:
        current = _descend(current, part)
        if current is None:
            return set()
    models = [m for m in _models_in(current)]
    keys: set[str] = set()
    for m in models:
        for name, info in m.model_fields.items():
            keys.add(info.alias or name)
    return keys


def _models_in(tp: Any) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(tp):
        out.extend(_models_in(arg))
    return out


def _tag(tp: Any) -> str | None:
    if typing.get_origin(tp) is typing.Annotated:
        for meta in typing.get_args(tp)[1:]:
            if isinstance(meta, Tag):
                return str(meta.tag)
    return None


def _descend(tp: Any, part: str | int) -> Any:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _descend(typing.get_args(tp)[0], part)
    if origin in (typing.Union, types.UnionType):
        if isinstance(part, str):
            for arg in typing.get_args(tp):
                # the tag of a discriminated union's member, or the name pydantic gives a plain union's member
                if _tag(arg) == part or getattr(arg, "__name__", None) == part:
                    return arg
        for arg in typing.get_args(tp):
            found = _descend(arg, part)
            if found is not None:
                return found
        return None
    if isinstance(part, int):
        if origin is list:
            return typing.get_args(tp)[0]
        return None
    if origin is dict:
        return typing.get_args(tp)[1]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, info in tp.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
    return None
