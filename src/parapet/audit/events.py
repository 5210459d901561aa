"""What an audit sink receives: one JSON object per operator or system action.

An event is built from a timeline entry (every action on an incident writes one: acknowledge, resolve,
note, a notification, an escalation step, a mitigation run) or from a system event (a deploy marker, a
feature-flag change), and carries a stable id, so a receiver that sees an event twice (delivery is at least
once) can drop the copy:

    {"schema": 1, "id": "parapet:timeline:1234", "at": "2026-12-06T19:30:00.123456+00:00",
     "source": "parapet", "service": "shop", "actor": "alice", "action": "acknowledged",
     "incident_id": 42, "message": "...", "data": {...}, "tool_audit": {...} | null}

``tool_audit`` is present when the entry reports a runbook or tool action (its parameters already redacted by
whoever recorded it). Sizes are bounded: a message over 4,000 characters and a data object over 16 KB are
cut, saying so, so one event always fits a syslog datagram or an HTTP request a receiver accepts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

SCHEMA: Final = 1
MAX_MESSAGE: Final = 4_000
MAX_DATA_BYTES: Final = 16_384


@dataclass(frozen=True)
class AuditEvent:
    id: str
    at: datetime
    actor: str
    action: str
    service: str | None = None
    incident_id: int | None = None
    message: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    tool_audit: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "id": self.id,
            "at": self.at.isoformat(),
            "source": "parapet",
            "service": self.service,
            "actor": self.actor,
            "action": self.action,
            "incident_id": self.incident_id,
            "message": _cut(self.message),
            "data": _bounded(self.data),
            "tool_audit": _bounded(self.tool_audit) if self.tool_audit is not None else None,
        }

    def line(self) -> str:
        """The event as one line of compact JSON (JSON Lines, syslog MSG, HTTP body)."""
        return json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True, default=str)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> AuditEvent:
        return cls(
            id=str(doc["id"]),
            at=datetime.fromisoformat(str(doc["at"])),
            actor=str(doc["actor"]),
            action=str(doc["action"]),
            service=doc.get("service"),
            incident_id=doc.get("incident_id"),
            message=doc.get("message"),
            data=dict(doc.get("data") or {}),
            tool_audit=doc.get("tool_audit"),
        )


def timeline_event_id(entry_id: int) -> str:
    return f"parapet:timeline:{entry_id}"


def system_event_id(event_id: int) -> str:
    return f"parapet:system:{event_id}"


def _cut(message: str | None) -> str | None:
    if message is None or len(message) <= MAX_MESSAGE:
        return message
    return message[:MAX_MESSAGE] + f"… [{len(message) - MAX_MESSAGE} characters cut]"


def _bounded(data: Mapping[str, Any]) -> dict[str, Any]:
    encoded = json.dumps(data, default=str, sort_keys=True)
    if len(encoded.encode("utf-8")) <= MAX_DATA_BYTES:
        loaded: dict[str, Any] = json.loads(encoded)
        return loaded
    return {"truncated": True, "bytes": len(encoded.encode("utf-8")), "keys": sorted(str(k) for k in data)[:100]}
