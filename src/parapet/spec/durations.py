"""Durations, the one parser: Prometheus' spelling (``30s``, ``5m``, ``1h30m``, ``7d``, ``2w``).

Alert ``for:``, ``max_age:``, the burn-rate window policy, ``retention:`` and ``parapet archive``'s
``--older-than`` all read durations through here. Errors name the value, never a command-line flag: the
caller that knows where the value came from (a spec field, a flag) says so.
"""

from __future__ import annotations

import re
from datetime import timedelta

from parapet.spec.preview import preview

_DURATION = re.compile(r"(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?")
# Longer than any text that is a sane duration: a longer one is not matched at all.
_LONGEST = 40
HINT = "write a duration such as 30s, 5m, 1h or 7d"
RETENTION_HINT = "use a positive whole number and a unit: 90d, 12h, 30m, 45s or 2w"


class DurationError(ValueError):
    """A text is not a duration; ``hint`` says how to write one."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def parse_duration(text: str, *, hint: str = HINT) -> timedelta:
    """A Prometheus duration such as ``5m``, ``1h30m`` or ``30d`` (surrounding spaces allowed)."""
    stripped = text.strip()
    match = _DURATION.fullmatch(stripped) if len(stripped) <= _LONGEST else None
    if not stripped or match is None:
        raise DurationError(f"{preview(text)} is not a duration", hint)
    w, d, h, m, s = (int(match.group(i) or 0) for i in (2, 4, 6, 8, 10))
    return timedelta(weeks=w, days=d, hours=h, minutes=m, seconds=s)


def parse_retention(text: str) -> timedelta:
    """A positive duration: how long something is kept (``90d``, ``12h``, ``2w``); zero is refused."""
    delta = parse_duration(text, hint=RETENTION_HINT)
    if delta <= timedelta(0):
        raise DurationError(f"{preview(text)} is not a duration", RETENTION_HINT)
    return delta


def format_duration(delta: timedelta) -> str:
    """The shortest Prometheus spelling of a duration: 5m, 1h, 1d, 1h30m."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            out += f"{count}{unit}"
    return out
