"""Fill a runbook template over an incident: ``{incident}``, ``{service}``, ``{slo}``, ``{alert}``,
``{severity}``, ``{labels.NAME}`` and, in an idempotency key, ``{params.NAME}``.

The spec loader already refused any other placeholder (``parapet.spec.runbooks.check_template``); a label the
incident lacks fills as the empty text. Nothing here escapes: a link is escaped where it is rendered, and
only http(s) links are ever rendered as links.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parapet.evidence.store import Incident
from parapet.spec.runbooks import PLACEHOLDER


def incident_values(incident: Incident) -> dict[str, Any]:
    return {
        "incident": str(incident.id),
        "service": incident.service or "",
        "slo": incident.slo or "",
        "alert": incident.alert_name,
        "severity": incident.severity,
        "labels": {str(k): str(v) for k, v in incident.labels.items()},
    }


def fill(template: str, incident: Incident, params: Mapping[str, Any] | None = None) -> str:
    values = incident_values(incident)
    values["params"] = {k: "" if v is None else str(v) for k, v in (params or {}).items()}

    def one(found: Any) -> str:
        root, sub = found.group(1), found.group(2)
        value = values.get(root, found.group(0))
        if isinstance(value, dict):
            return str(value.get(sub, ""))
        return str(value)

    return PLACEHOLDER.sub(one, template)
