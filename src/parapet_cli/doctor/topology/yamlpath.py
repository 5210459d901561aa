"""Reading parsed YAML documents: a value by its path, and the line it is on."""

from __future__ import annotations

from typing import Any

from parapet.spec.source import SourceDocument


def get(data: Any, *keys: str | int) -> Any:
    """``data[k1][k2]…`` through mappings and lists, None where a step is missing."""
    for key in keys:
        if isinstance(data, dict) and isinstance(key, str):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def yline(doc: SourceDocument, *keys: Any) -> int | None:
    return doc.locate(tuple(keys)).line
