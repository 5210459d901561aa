"""Alertmanager's alert fingerprint, computed the way Alertmanager computes it.

``model.LabelSet.Fingerprint()`` of prometheus/common: 64-bit FNV-1a over the label names in sorted order,
each name and each value followed by the separator byte 0xFF (annotations take no part), rendered as 16
lower-case hex digits. The same labels give the same fingerprint on every Alertmanager and across restarts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

_OFFSET64: Final = 14695981039346656037
_PRIME64: Final = 1099511628211
_MASK64: Final = (1 << 64) - 1
_SEPARATOR: Final = 0xFF


def _add(h: int, data: bytes) -> int:
    for byte in data:
        h = ((h ^ byte) * _PRIME64) & _MASK64
    return h


def fingerprint(labels: Mapping[str, str]) -> str:
    """The fingerprint Alertmanager reports for an alert with these labels (``%016x``)."""
    h = _OFFSET64
    for name in sorted(labels):
        h = _add(h, name.encode("utf-8"))
        h = ((h ^ _SEPARATOR) * _PRIME64) & _MASK64
        h = _add(h, labels[name].encode("utf-8"))
        h = ((h ^ _SEPARATOR) * _PRIME64) & _MASK64
    return f"{h:016x}"
