"""Deterministic YAML for generated files.

A small emitter for the shapes generators produce (mappings in insertion order, lists, strings,
numbers, booleans). It is byte-for-byte stable whatever PyYAML build is installed (libyaml or not),
about twenty times faster than PyYAML's pure-Python emitter, and keeps rule files readable:

- a string YAML would read back unchanged stays plain (PromQL such as ``sum(rate(x{a="b"}[5m]))``);
- a multi-line string becomes a literal block (``|-``);
- anything else is double-quoted with JSON escapes, which YAML reads back exactly (quotes, colons,
  ``#``, newlines in label values, leading spaces, strings that look like numbers or booleans).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import yaml

_RESOLVER = yaml.resolver.Resolver()
_INDICATORS = tuple("-?:,[]{}#&*!|>'\"%@`")


@lru_cache(maxsize=1 << 16)
def _plain_ok(value: str) -> bool:
    if not value or value != value.strip() or value.startswith(_INDICATORS):
        return False
    if ": " in value or " #" in value or value.endswith(":") or "\t" in value:
        return False
    if not value.isprintable():
        return False
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return tag == "tag:yaml.org,2002:str"


def _literal_ok(value: str) -> bool:
    if "\n" not in value or value.endswith("\n") or value.startswith((" ", "\n")):
        return False
    return all(line == line.rstrip() and (line.isprintable() or line == "") for line in value.split("\n"))


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        if _plain_ok(value):
            return value
        return _quoted(value)
    raise TypeError(f"cannot emit {type(value).__name__}")


def _quoted(value: str) -> str:
    """A double-quoted scalar: JSON escapes, plus escapes for what YAML refuses to read raw."""
    text = json.dumps(value, ensure_ascii=False)
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else (f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}") for c in text
    )


def _emit(value: Any, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            _entry(f"{pad}{_scalar(str(key))}:", item, indent, out)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item:
                first = True
                for key, sub in item.items():
                    lead = f"{pad}- " if first else f"{pad}  "
                    _entry(f"{lead}{_scalar(str(key))}:", sub, indent + 2, out)
                    first = False
            elif isinstance(item, list) and item:
                out.append(f"{pad}-\n")
                _emit(item, indent + 2, out)
            else:
                _entry(f"{pad}-", item, indent, out, is_item=True)
    else:
        raise TypeError("top level must be a mapping or a list")


def _entry(prefix: str, value: Any, indent: int, out: list[str], *, is_item: bool = False) -> None:
    if isinstance(value, (dict, list)):
        if not value:
            out.append(f"{prefix} {'{}' if isinstance(value, dict) else '[]'}\n")
            return
        out.append(f"{prefix}\n")
        _emit(value, indent + 2, out)
    elif isinstance(value, str) and not _plain_ok(value) and _literal_ok(value):
        inner = " " * (indent + 2)
        out.append(f"{prefix} |-\n")
        out.extend(f"{inner}{line}\n" if line else "\n" for line in value.split("\n"))
    else:
        out.append(f"{prefix} {_scalar(value)}\n")


def dump(data: Any, header: str = "") -> bytes:
    out: list[str] = [header]
    _emit(data, 0, out)
    return "".join(out).encode("utf-8")
