"""Alertmanager's webhook payload (``version: "4"``), parsed into per-alert occurrences.

Everything here works per alert, never by the group's ``status`` (a group says "firing" while single
alerts in it have resolved). Times are normalised to UTC; the zero ``endsAt`` (``0001-01-01T00:00:00Z``,
sent while an alert fires) becomes None. Labels and annotations that are not strings are rendered as
text, and huge ones are truncated (an alert is never refused for its labels); a missing fingerprint is
computed as Alertmanager computes it, from the labels as received (before truncation).

What cannot be read raises ``PayloadError`` naming the field (``alerts[3].startsAt``): the webhook answers
400 with that message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

from parapet.alerts.fingerprint import fingerprint as compute_fingerprint

SUPPORTED_VERSION: Final = "4"
MAX_LABELS: Final = 64  # labels (and annotations) kept per alert; the rest are dropped, sorted by name
MAX_NAME_CHARS: Final = 128
MAX_LABEL_CHARS: Final = 1024
MAX_ANNOTATION_CHARS: Final = 8192
MAX_URL_CHARS: Final = 2048
ELLIPSIS: Final = "…"

_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)
_KEEP_FIRST: Final = frozenset({"alertname", "service", "slo", "severity", "instance", "job", "summary"})
_FINGERPRINT = re.compile(r"^[0-9a-f]{1,64}$")


class PayloadError(ValueError):
    """The body is not an Alertmanager version-4 payload; the message says what is wrong, and where."""


@dataclass(frozen=True)
class AlertIn:
    """One alert of a delivery: one occurrence is (fingerprint, starts_at)."""

    index: int
    status: str  # "firing" or "resolved"
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str | None
    fingerprint: str
    fingerprint_computed: bool = False
    truncated: bool = False

    @property
    def alert_name(self) -> str:
        return self.labels.get("alertname", "") or "(unnamed alert)"


@dataclass(frozen=True)
class Delivery:
    receiver: str | None
    status: str | None
    group_key: str | None
    group_labels: dict[str, str]
    common_labels: dict[str, str]
    external_url: str | None
    truncated_alerts: int
    alerts: tuple[AlertIn, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)


def parse_body(body: bytes) -> Delivery:
    """Parse a request body; PayloadError when it is not JSON or not a version-4 payload."""
    try:
        data = json.loads(body.decode("utf-8"))
    except json.JSONDecodeError as exc:
        raise PayloadError(f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except UnicodeDecodeError:
        raise PayloadError("the body is not JSON: it is not UTF-8 text") from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, a number too long to convert
        raise PayloadError(f"the body is not JSON Parapet can read: {str(exc)[:200]}") from None
    raw = data
    if b"\\u0000" in body:  # PostgreSQL's JSON and text cannot hold NUL: the delivery log keeps U+FFFD
        try:
            raw = _without_nul(data)
        except RecursionError:
            raise PayloadError("the body is not JSON Parapet can read: nested too deeply") from None
    return parse_payload(data, raw=raw)


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


def parse_payload(data: Any, *, raw: Any = None) -> Delivery:
    """The delivery in ``data`` (parsed JSON); ``raw`` is what the delivery log keeps (default: ``data``)."""
    if not isinstance(data, dict):
        raise PayloadError(f"the payload must be a JSON object, not {_kind(data)}")
    version = data.get("version")
    if "version" not in data:
        raise PayloadError('version: missing; Parapet reads Alertmanager\'s webhook payload version "4"')
    if version != SUPPORTED_VERSION:
        raise PayloadError(
            f"version: {json.dumps(version)[:40]} is not supported; Parapet reads Alertmanager's webhook payload "
            'version "4"'
        )
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError(f"alerts: {'missing' if alerts is None else 'must be a list, not ' + _kind(alerts)}")
    truncated = data.get("truncatedAlerts", 0)
    if isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0:
        raise PayloadError(f"truncatedAlerts: must be a whole number >= 0, not {json.dumps(truncated)[:40]}")
    return Delivery(
        receiver=_optional_text(data, "receiver"),
        status=_optional_text(data, "status"),
        group_key=_optional_text(data, "groupKey", MAX_ANNOTATION_CHARS),
        group_labels=_labels(data.get("groupLabels"), "groupLabels")[0],
        common_labels=_labels(data.get("commonLabels"), "commonLabels")[0],
        external_url=_optional_text(data, "externalURL", MAX_URL_CHARS),
        truncated_alerts=truncated,
        alerts=tuple(_alert(i, a) for i, a in enumerate(alerts)),
        raw=data if raw is None else raw,
    )


def _alert(index: int, data: Any) -> AlertIn:
    where = f"alerts[{index}]"
    if not isinstance(data, dict):
        raise PayloadError(f"{where}: must be an object, not {_kind(data)}")
    status = data.get("status")
    if status not in ("firing", "resolved"):
        raise PayloadError(f'{where}.status: must be "firing" or "resolved", not {json.dumps(status)[:40]}')
    if not isinstance(data.get("labels"), dict):
        raise PayloadError(f"{where}.labels: {'missing' if 'labels' not in data else 'must be an object'}")
    full = {_text(k): _text(v) for k, v in data["labels"].items()}
    labels, cut_labels = _labels(full, f"{where}.labels")
    annotations, cut_annotations = _labels(data.get("annotations"), f"{where}.annotations", MAX_ANNOTATION_CHARS)
    starts = parse_time(data.get("startsAt"), f"{where}.startsAt")
    if starts is None:
        raise PayloadError(f"{where}.startsAt: missing or the zero time; every alert has a start")
    ends = parse_time(data.get("endsAt"), f"{where}.endsAt")
    given = data.get("fingerprint")
    computed = not (isinstance(given, str) and _FINGERPRINT.match(given))
    return AlertIn(
        index=index,
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=starts,
        ends_at=ends,
        generator_url=_cut(_text(data["generatorURL"]), MAX_URL_CHARS)[0] if data.get("generatorURL") else None,
        fingerprint=compute_fingerprint(full) if computed else str(given),
        fingerprint_computed=computed,
        truncated=cut_labels or cut_annotations,
    )


def parse_time(value: Any, where: str) -> datetime | None:
    """An RFC 3339 time (any offset, up to nanoseconds) as an aware UTC datetime; the zero time is None."""
    if value is None or value == "":
        return None
    match = _TIME.match(value) if isinstance(value, str) else None
    if match is None:
        raise PayloadError(f"{where}: not an RFC 3339 time: {json.dumps(value)[:60]}")
    year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
    if year == 1 and month == 1 and day == 1 and hour == minute == second == 0:
        return None  # Go's zero time: "no end yet"
    micro = int((match[7] or "0")[:6].ljust(6, "0"))
    offset = UTC
    if match[9]:
        delta = timedelta(hours=int(match[10]), minutes=int(match[11]))
        offset = timezone(-delta if match[9] == "-" else delta)
    try:
        return datetime(year, month, day, hour, minute, min(second, 59), micro, tzinfo=offset).astimezone(UTC)
    except (ValueError, OverflowError):
        raise PayloadError(f"{where}: not a valid time: {json.dumps(value)[:60]}") from None


def _labels(value: Any, where: str, limit: int = MAX_LABEL_CHARS) -> tuple[dict[str, str], bool]:
    """A label (or annotation) map as text, truncated: at most MAX_LABELS entries of bounded size."""
    if value is None:
        return {}, False
    if not isinstance(value, Mapping):
        raise PayloadError(f"{where}: must be an object, not {_kind(value)}")
    if len(value) <= MAX_LABELS and all(
        type(k) is str and type(v) is str and len(k) <= MAX_NAME_CHARS and len(v) <= limit and "\x00" not in k + v
        for k, v in value.items()
    ):
        return dict(value), False  # the common case: nothing to render or cut
    out: dict[str, str] = {}
    cut = len(value) > MAX_LABELS
    # Over the limit, the labels correlation and the UI lean on are kept first, then the rest by name.
    for name in sorted(value, key=lambda n: (_text(n) not in _KEEP_FIRST, _text(n)))[:MAX_LABELS]:
        key, cut_key = _cut(_text(name), MAX_NAME_CHARS)
        text, cut_value = _cut(_text(value[name]), limit)
        out[key] = text
        cut = cut or cut_key or cut_value
    return out, cut


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(value, sort_keys=True, default=str)[: MAX_ANNOTATION_CHARS + 1]


def _cut(text: str, limit: int) -> tuple[str, bool]:
    # NUL cannot be stored in PostgreSQL text; other control characters are kept (the UI escapes them).
    text = text.replace("\x00", "\ufffd")
    if len(text) <= limit:
        return text, False
    return text[: limit - 1] + ELLIPSIS, True


def _optional_text(data: dict[str, Any], key: str, limit: int = MAX_LABEL_CHARS) -> str | None:
    value = data.get(key)
    return None if value is None else _cut(_text(value), limit)[0]


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
