"""The MCP server's reads: each tool's answer as a plain JSON value, from the store, the spec and Prometheus.

    list_incidents(state, service, severity, limit, cursor)   the operator queue's order and keyset cursor;
                                                              ``limit`` is capped at MAX_LIMIT, never refused
    get_incident(id)               the incident page: fields, labels, links, alert instances, related
                                   incidents, suspect changes of the hour before it opened
    get_timeline(id, limit, cursor)                           newest first, keyset pages
    get_retrospective(id)          the Markdown the UI renders
    list_changes(since, until, service, kind, limit, cursor)  system events (deploys, flag changes)
    get_slo_status(slo)            the spec's SLOs; with ``prometheus.url``, live error ratios and burn
                                   rates of every window, which alert pairs burn now, budget left
    spec_text(), runbooks()        the resources

Every answer goes through ``parapet.mcp.redact`` (secret values masked, sizes bounded). The store given
must sit on a read-only engine (``create_engine_for(url, read_only=True)``): nothing here writes, and the
database refuses it if anything ever tried. An unknown or archived incident raises IncidentNotFound, a bad
argument InvalidQuery: the server turns both into tool errors.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from parapet import conventions as c
from parapet.errors import ConfigError
from parapet.evidence import retrospective
from parapet.evidence.db import mask_url
from parapet.evidence.schema import ACTIVE_STATES, STATES
from parapet.evidence.store import (
    QUEUE_MAX_LIMIT,
    Incident,
    InvalidQuery,
    Store,
    SystemEvent,
    TimelineEntry,
)
from parapet.mcp.redact import MAX_TEXT, redact, text
from parapet.slo.windows import slo_recorded_windows, slo_window_pairs
from parapet.spec.durations import DurationError, format_duration, parse_duration
from parapet.spec.model import SLO, Spec
from parapet.web.links import safe_href, trace_href

MAX_LIMIT: Final = QUEUE_MAX_LIMIT  # 100: every list answers at most this many items, whatever was asked
DEFAULT_LIMIT: Final = 30
DEFAULT_CHANGES_WINDOW: Final = timedelta(hours=1)
SUSPECT_WINDOW: Final = timedelta(hours=1)  # without a spec; with one, its changes.window
MAX_INSTANCES: Final = 50
MAX_SPEC_BYTES: Final = 256 * 1024
MAX_RETROSPECTIVE: Final = 200_000  # characters; a longer retrospective is cut (its timeline is the long part)
MAX_PROMETHEUS_BYTES: Final = 4 * 1024 * 1024
MAX_SLO_GROUPS: Final = 20
PROMETHEUS_TIMEOUT_S: Final = 5.0
STATE_FILTERS: Final[Mapping[str, tuple[str, ...]]] = {
    "active": ACTIVE_STATES,
    "all": STATES,
    **{state: (state,) for state in STATES},
}


def clamp(limit: int | None, default: int = DEFAULT_LIMIT) -> int:
    """A page size between 1 and MAX_LIMIT (a larger ask gets MAX_LIMIT; the answer says which it used)."""
    if limit is None:
        return default
    return max(1, min(int(limit), MAX_LIMIT))


def parse_time(value: str, now: datetime, *, name: str) -> datetime:
    """ISO 8601 (a time without a zone is UTC), or a duration (``2h``, ``1d``) meaning that long before now."""
    raw = value.strip()
    try:
        return now - parse_duration(raw)
    except DurationError:
        pass
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidQuery(
            f"{name} {text(raw)[:60]!r} is neither a time nor a duration",
            hint="use ISO 8601 (2026-05-01T12:00:00Z) or a duration before now (30m, 2h, 1d)",
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass
class Reader:
    """The reads behind every tool and resource; ``secrets`` are masked wherever they appear."""

    store: Store
    spec: Spec | None = None
    secrets: tuple[str, ...] = ()
    trace_url: str | None = None
    prometheus_url: str | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    @classmethod
    def for_spec(cls, store: Store, spec: Spec | None, *, secrets: Iterable[str] = ()) -> Reader:
        return cls(
            store=store,
            spec=spec,
            secrets=tuple(secrets),
            trace_url=spec.ui.trace_url if spec is not None else None,
            prometheus_url=spec.prometheus.url if spec is not None else None,
        )

    def _out(self, value: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = redact(value, self.secrets)
        return out

    # -- incidents ----------------------------------------------------------------------------------

    def list_incidents(
        self,
        *,
        state: str = "active",
        service: str | None = None,
        severity: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        states = STATE_FILTERS.get(state)
        if states is None:
            raise InvalidQuery(f"unknown state filter {state!r}", hint=f"use one of {', '.join(STATE_FILTERS)}")
        size = clamp(limit)
        page = self.store.queue(states=states, service=service, severity=severity, limit=size, cursor=cursor)
        return self._out(
            {
                "incidents": [_summary(i) for i in page.items],
                "limit": size,
                "next_cursor": page.next_cursor,
            }
        )

    def get_incident(self, incident_id: int) -> dict[str, Any]:
        store = self.store
        incident = store.get(incident_id)
        instances = store.alert_instances(incident_id)
        changes = store.changes_before(incident, window=self._suspect_window())
        body = _summary(incident)
        body.update(
            correlation_key=incident.correlation_key,
            fingerprint=incident.fingerprint,
            summary=incident.summary,
            labels=incident.labels,
            annotations=incident.annotations,
            opened_by=incident.opened_by,
            acknowledged_by=incident.acknowledged_by,
            resolved_by=incident.resolved_by,
            updated_at=incident.updated_at,
            version=incident.version,
            links=self._links(incident),
            alert_instances=[
                {
                    "fingerprint": a.fingerprint,
                    "status": a.status,
                    "stale": a.stale,
                    "alert_name": a.alert_name,
                    "severity": a.severity,
                    "starts_at": a.starts_at,
                    "ends_at": a.ends_at,
                    "last_seen_at": a.last_seen_at,
                    "occurrence_count": a.occurrence_count,
                    "labels": a.labels,
                    "source": safe_href(a.generator_url),
                }
                for a in instances[:MAX_INSTANCES]
            ],
            alert_instances_total=len(instances),
            related=[asdict(link) for link in store.links(incident_id)[:MAX_LIMIT]],
            suspect_changes=[_change(e) for e in changes],
            suspect_window=format_duration(self._suspect_window()),
        )
        return self._out(body)

    def _suspect_window(self) -> timedelta:
        return self.spec.changes.window if self.spec is not None else SUSPECT_WINDOW

    def _links(self, incident: Incident) -> dict[str, str]:
        links: dict[str, str] = {}
        runbook = safe_href(incident.runbook_url) or safe_href(incident.annotations.get(c.ANNOTATION_RUNBOOK))
        if runbook:
            links["runbook"] = runbook
        dashboard = safe_href(incident.annotations.get(c.ANNOTATION_DASHBOARD))
        if dashboard:
            links["dashboard"] = dashboard
        if incident.trace_id:
            trace = trace_href(self.trace_url, incident.trace_id)
            if trace:
                links["trace"] = trace
        return links

    def get_timeline(self, incident_id: int, *, limit: int | None = None, cursor: str | None = None) -> dict[str, Any]:
        self.store.get(incident_id)  # an unknown or archived id is an error, not an empty timeline
        size = clamp(limit, default=50)
        page = self.store.timeline_page(incident_id, limit=size, before=cursor)
        return self._out(
            {
                "incident_id": incident_id,
                "entries": [_entry(e) for e in page.items],
                "total": page.total,
                "limit": size,
                "next_cursor": page.older_cursor,
                "order": "newest first",
            }
        )

    def get_retrospective(self, incident_id: int) -> dict[str, Any]:
        incident = self.store.get(incident_id)
        entries = self.store.timeline(incident_id)
        changes = self.store.changes_before(incident, window=self._suspect_window())
        markdown = retrospective.render(incident, entries, changes)
        cut = len(markdown) > MAX_RETROSPECTIVE
        # Redacted line by line: each line stays whole unless it alone is over the text bound.
        lines = [text(line, self.secrets) if len(line) <= MAX_TEXT else text(line) for line in markdown.splitlines()]
        body = "\n".join(lines)[:MAX_RETROSPECTIVE]
        return {"incident_id": incident_id, "markdown": body, "truncated": cut}

    # -- changes --------------------------------------------------------------------------------------

    def list_changes(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        service: str | None = None,
        kind: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        now = self.clock()
        end = parse_time(until, now, name="until") if until else now
        start = parse_time(since, now, name="since") if since else end - DEFAULT_CHANGES_WINDOW
        if start > end:
            raise InvalidQuery("since is after until", hint="give a window whose start comes first")
        size = clamp(limit)
        page = self.store.changes(
            since=start, until=end, service=service, kinds=(kind,) if kind else (), limit=size, cursor=cursor
        )
        return self._out(
            {
                "since": start,
                "until": end,
                "service": service,
                "changes": [_change(e) for e in page.items],
                "limit": size,
                "next_cursor": page.next_cursor,
                "note": "events without a service count for every service",
            }
        )

    # -- SLOs ---------------------------------------------------------------------------------------

    def get_slo_status(self, *, slo: str | None = None) -> dict[str, Any]:
        spec = self._spec()
        slos = [s for s in spec.slos if slo is None or s.name == slo]
        if slo is not None and not slos:
            raise InvalidQuery(
                f"the spec has no SLO {text(slo)[:80]!r}", hint=f"use one of {', '.join(s.name for s in spec.slos)}"
            )
        statuses = []
        for one in slos:
            status = _slo_spec(one)
            if self.prometheus_url is not None:
                status["live"] = self._live(spec, one)
            statuses.append(status)
        return self._out({"service": spec.service, "prometheus": self.prometheus_url is not None, "slos": statuses})

    def _live(self, spec: Spec, slo: SLO) -> dict[str, Any]:
        """The SLO's recorded series now: per group of its ``group_by`` labels, each window's error ratio and
        burn rate, the alert pairs that burn (both windows above the pair's factor), the budget left."""
        assert self.prometheus_url is not None
        windows = {c.error_ratio(format_duration(w)): format_duration(w) for w in slo_recorded_windows(slo)}
        names = [*windows, c.BUDGET_REMAINING, c.BURN_RATE_PERIOD]
        selector = (
            f'{{__name__=~"{"|".join(names)}", {c.LABEL_SERVICE}={json.dumps(spec.service)}, '
            f"{c.LABEL_SLO}={json.dumps(slo.name)}}}"
        )
        try:
            series = instant_query(self.prometheus_url, selector)
        except ConfigError as exc:
            return {"error": exc.message}
        budget = float(slo.error_budget)
        groups: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        for item in series:
            metric = dict(item.get("metric") or {})
            name = metric.pop("__name__", "")
            metric.pop(c.LABEL_SERVICE, None)
            metric.pop(c.LABEL_SLO, None)
            group = groups.setdefault(tuple(sorted(metric.items())), {"labels": metric, "windows": {}})
            try:
                value = float(item["value"][1])
            except (KeyError, IndexError, TypeError, ValueError):
                continue
            if name in windows:
                group["windows"][windows[name]] = {
                    "error_ratio": value,
                    "burn_rate": value / budget if budget else None,
                }
            elif name == c.BUDGET_REMAINING:
                group["budget_remaining"] = value
            elif name == c.BURN_RATE_PERIOD:
                group["period_burn_rate"] = value
        for group in groups.values():
            burns = {w: v["burn_rate"] for w, v in group["windows"].items()}
            group["burning"] = [
                {"severity": p.severity, "long": format_duration(p.long), "short": format_duration(p.short)}
                for p in slo_window_pairs(slo)
                if all((burns.get(format_duration(w)) or 0.0) > float(p.factor) for w in (p.long, p.short))
            ]
        ordered = [groups[k] for k in sorted(groups)][:MAX_SLO_GROUPS]
        return {"groups": ordered, "groups_total": len(groups), "source": mask_url(self.prometheus_url)}

    def _spec(self) -> Spec:
        if self.spec is None:
            raise ConfigError(
                "no spec is loaded, so there are no SLOs to report",
                hint="start the server with the service's parapet.yaml",
            )
        return self.spec

    # -- resources ------------------------------------------------------------------------------------

    def spec_text(self) -> str:
        """The spec file as written (URL passwords and known secrets masked, at most MAX_SPEC_BYTES)."""
        spec = self._spec()
        try:
            raw = spec.path.read_bytes()[:MAX_SPEC_BYTES]
        except OSError as exc:
            raise ConfigError(f"cannot read the spec {spec.path}: {exc.strerror}") from None
        lines = raw.decode("utf-8", errors="replace").splitlines()
        return "\n".join(text(line, self.secrets) for line in lines) + "\n"

    def runbooks(self) -> dict[str, Any]:
        """Where each SLO's alerts point operators (runbook and dashboard links, alert names, severities), and the
        spec's ``runbooks:`` (what each matches, its steps; mitigations by name only, never run from here)."""
        spec = self._spec()
        out = []
        for one in spec.slos:
            alerting = one.alerting
            out.append(
                {
                    "slo": one.name,
                    "alert": c.alert_name(spec.service, one.name, imported=spec.format != "parapet/v1")
                    if alerting
                    else None,
                    "runbook_url": alerting.runbook_url if alerting else None,
                    "dashboard_url": alerting.dashboard_url if alerting else None,
                    "severities": [t.label_value for t in alerting.tiers if t.enabled] if alerting else [],
                }
            )
        declared = [
            {
                "name": r.name,
                "title": r.title,
                "description": r.description,
                "match": {
                    "slo": r.match.slo,
                    "alert": r.match.alert,
                    "service": r.match.service,
                    "labels": dict(r.match.labels),
                },
                "steps": [
                    {
                        "name": step.name,
                        "kind": step.kind,
                        "title": step.title,
                        "text": step.text or None,
                        "url": step.url or None,
                        "mitigation": step.python or None,
                        "automatic": step.auto if step.kind == "mitigation" else None,
                        "parameters": [p.name for p in step.parameters],
                    }
                    for step in r.steps
                ],
            }
            for r in spec.runbooks
        ]
        return self._out(
            {
                "service": spec.service,
                "runbooks": out,
                "declared": declared,
                "declared_in_python": [ref.python for ref in spec.runbook_refs],
            }
        )


def _summary(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "state": incident.state,
        "severity": incident.severity,
        "service": incident.service,
        "slo": incident.slo,
        "alert_name": incident.alert_name,
        "opened_at": incident.opened_at,
        "acknowledged_at": incident.acknowledged_at,
        "resolved_at": incident.resolved_at,
        "last_seen_at": incident.last_seen_at,
        "occurrence_count": incident.occurrence_count,
        "trace_id": incident.trace_id,
    }


def _entry(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "actor": entry.actor,
        "system": entry.actor.startswith(retrospective.SYSTEM_PREFIX),
        "at": entry.at,
        "message": entry.message,
        "data": entry.data,
    }


def _change(event: SystemEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind,
        "service": event.service,
        "occurred_at": event.occurred_at,
        "actor": event.actor,
        "message": event.message,
        "data": event.data,
    }


def _slo_spec(slo: SLO) -> dict[str, Any]:
    alerting = slo.alerting
    return {
        "name": slo.name,
        "description": slo.description,
        "objective_percent": slo.objective,
        "error_budget": slo.error_budget,
        "period_days": slo.period_days,
        "sli_kind": slo.sli.kind.value,
        "group_by": list(slo.group_by),
        "alert_windows": [
            {
                "severity": p.severity,
                "long": format_duration(p.long),
                "short": format_duration(p.short),
                "burn_rate_factor": p.factor,
                "budget_percent": p.budget_percent,
            }
            for p in slo_window_pairs(slo)
        ]
        if alerting
        else [],
        "runbook_url": alerting.runbook_url if alerting else None,
    }


def instant_query(base_url: str, promql: str, *, timeout: float = PROMETHEUS_TIMEOUT_S) -> list[dict[str, Any]]:
    """``GET /api/v1/query`` on Prometheus: the vector's samples, or ConfigError with a one-line reason."""
    url = f"{base_url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    shown = mask_url(base_url)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # an http(s) URL: the spec's pattern
            raw = response.read(MAX_PROMETHEUS_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise ConfigError(f"Prometheus at {shown} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(f"Prometheus at {shown} cannot be reached: {reason}") from None
    if len(raw) > MAX_PROMETHEUS_BYTES:
        raise ConfigError(f"Prometheus at {shown} answered more than {MAX_PROMETHEUS_BYTES} bytes")
    try:
        body = json.loads(raw)
        if body.get("status") != "success":
            raise ValueError(body.get("error") or "not a success")
        result = body["data"]["result"]
        if not isinstance(result, list):
            raise ValueError("no vector")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"Prometheus at {shown} gave an answer that cannot be read: {exc}") from None
    return [r for r in result if isinstance(r, dict)]
