"""Trace ids on incidents: from the alert itself, else from Prometheus exemplars around the alert's start.

1. The intake reads a trace id from the first alert's annotations, then its labels: ``trace_id``, ``traceID``,
   ``traceId``, ``trace-id``, … (any key that reads "traceid" once case, ``_`` and ``-`` are dropped). Only an
   OpenTelemetry/W3C, Jaeger, Zipkin or X-Ray-like id is kept: 16 to 32 hex digits (``trace_id_from``).
2. When the spec sets ``prometheus.url`` and the incident has none, a ``trace_lookup`` job (enqueued in the
   transaction that opened the incident, by the hooks subscriber ``trace_jobs.install`` registers) asks Prometheus'
   ``/api/v1/query_exemplars`` for the exemplars of the SLO's bad-event series (the SLI's errors query, or its
   total query for a good-events SLI; a histogram's ``_count`` read as its ``_bucket`` series, which carry the
   exemplars) from 15 minutes before the alert started to 1 minute after, and keeps the trace id of the slowest
   (latest on a tie). Not in the webhook's request: Prometheus may be slow or down, the webhook must not be.
   Nothing found yet: the job retries for 5 minutes after the incident opened (exemplars of the first bad
   events may reach Prometheus a scrape later), then gives up with ``{"found": false}``.

The UI links a trace id through ``ui.trace_url`` (``{trace_id}`` percent-encoded, http(s) only).
"""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from parapet.evidence.schema import alert_instances, incidents
from parapet.spec.model import SLO, Spec

TRACE_JOB: Final = "trace_lookup"
SUBSCRIBER: Final = "traces"
BEFORE: Final = timedelta(minutes=15)
AFTER: Final = timedelta(minutes=1)
GIVE_UP_AFTER: Final = timedelta(minutes=5)
RETRY_EVERY: Final = timedelta(seconds=30)
QUERY_TIMEOUT_S: Final = 5.0
MAX_ANSWER: Final = 4 * 1024 * 1024
_HEX_ID = re.compile(r"[0-9a-fA-F]{16,32}")
_COUNT = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)_count\b")


def _is_trace_key(key: str) -> bool:
    return key.lower().replace("_", "").replace("-", "").replace(".", "") == "traceid"


def trace_id_from(*mappings: Mapping[str, Any]) -> str | None:
    """The first trace id found in the mappings, in order (annotations, then labels), lower-cased; None if none
    holds a well-formed one."""
    for mapping in mappings:
        for key, value in mapping.items():
            if _is_trace_key(str(key)) and isinstance(value, str) and _HEX_ID.fullmatch(value.strip()):
                return value.strip().lower()
    return None


def exemplar_query(slo: SLO, window: str = "5m") -> str:
    """The PromQL whose series' exemplars may hold a trace of the SLO's bad events."""
    template = slo.sli.errors if slo.sli.errors is not None else slo.sli.total
    return _COUNT.sub(r"\1_bucket", template.replace("{{window}}", window))


def query_exemplars(prometheus_url: str, query: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """``/api/v1/query_exemplars``' data: a list of {seriesLabels, exemplars: [{labels, value, timestamp}]}."""
    params = urllib.parse.urlencode(
        {"query": query, "start": f"{start.timestamp():.3f}", "end": f"{end.timestamp():.3f}"}
    )
    url = f"{prometheus_url.rstrip('/')}/api/v1/query_exemplars?{params}"
    with urllib.request.urlopen(url, timeout=QUERY_TIMEOUT_S) as answer:
        body = json.loads(answer.read(MAX_ANSWER))
    data = body.get("data") if isinstance(body, dict) and body.get("status") == "success" else None
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def pick_trace_id(series: Sequence[Mapping[str, Any]]) -> str | None:
    """The trace id of the exemplar with the largest value (the slowest request), the latest on a tie."""
    best: tuple[float, float, str] | None = None
    for item in series:
        for exemplar in item.get("exemplars") or ():
            if not isinstance(exemplar, dict):
                continue
            found = trace_id_from(exemplar.get("labels") or {})
            if found is None:
                continue
            try:
                rank = (float(exemplar.get("value", 0)), float(exemplar.get("timestamp", 0)), found)
            except (TypeError, ValueError):
                continue
            if best is None or rank > best:
                best = rank
    return best[2] if best is not None else None


def find_trace_id(prometheus_url: str, slo: SLO, started: datetime) -> str | None:
    return pick_trace_id(query_exemplars(prometheus_url, exemplar_query(slo), started - BEFORE, started + AFTER))


def slo_named(spec: Spec | None, name: str | None) -> SLO | None:
    for slo in spec.slos if spec is not None and name else ():
        if slo.name == name:
            return slo
    return None


def alert_started(conn: Connection, incident_id: int, default: datetime) -> datetime:
    """When the incident's earliest alert instance started (Alertmanager's startsAt), else ``default``."""
    first = conn.execute(
        select(alert_instances.c.starts_at)
        .where(alert_instances.c.incident_id == incident_id)
        .order_by(alert_instances.c.starts_at)
        .limit(1)
    ).scalar()
    return first if isinstance(first, datetime) else default


def set_trace_id(conn: Connection, incident_id: int, trace_id: str) -> bool:
    """Give the incident a trace id unless it has one; not a version bump (an operator's open form stays valid)."""
    done = conn.execute(
        update(incidents).where(incidents.c.id == incident_id, incidents.c.trace_id.is_(None)).values(trace_id=trace_id)
    ).rowcount
    return bool(done)
