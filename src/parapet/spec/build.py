"""Map a validated ``parapet/v1`` document onto the internal model, checking what pydantic cannot:
thresholds on bucket bounds, unique names, runbooks on every alerting SLO, and the SLIs of each kind
(http, latency, job, journey, freshness, probe) written as PromQL over the metric contract or a source's metrics.

The checks every format shares (labels, templates, durations, events SLIs, reachability) are in
``parapet.spec.checks``; names come from ``parapet.conventions``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from parapet import conventions as c
from parapet.errors import SpecError
from parapet.spec import v1
from parapet.spec.checks import (
    DEFAULT_FOR,
    LABEL_NAME,
    check_annotations,
    check_duration,
    check_labels,
    check_slo,
    checked_period,
    events_sli,
    fill_template,
    pairs,
)
from parapet.spec.durations import DurationError, parse_duration, parse_retention
from parapet.spec.escalation import build_escalation
from parapet.spec.model import (
    SLI,
    SLO,
    Alerting,
    AlertmanagerSettings,
    AlertTier,
    ArgRef,
    AuditSettings,
    AuditSinkSettings,
    CardinalitySettings,
    ChangeSettings,
    CorrelationRule,
    Database,
    HttpCheck,
    MCPSettings,
    MetricWrapper,
    NotifierSettings,
    Probe,
    PrometheusSettings,
    Retention,
    SecretRef,
    SLIKind,
    Spec,
    Suppression,
    Topology,
    UISettings,
)
from parapet.spec.notifiers import NotifierBase
from parapet.spec.preview import preview
from parapet.spec.promql import TemplateError, format_matchers, label_matcher_list
from parapet.spec.runbooks import build_runbooks
from parapet.spec.source import PathKey, SourceDocument
from parapet.spec.sources import (
    CONTRACT_HISTOGRAMS,
    HTTP_METHODS,
    HTTP_SOURCES,
    JOB_FRAMEWORKS,
    JOB_OUTCOMES,
    format_decimal,
    le_matcher,
)


def build_v1(doc: SourceDocument, spec: v1.SpecV1) -> Spec:
    check_labels(doc, ("labels",), spec.labels, reserved=c.INFO_LABELS)
    glob = spec.alerting
    check_labels(doc, ("alerting", "labels"), glob.labels, reserved=[glob.severity_label])
    if spec.defaults.source not in HTTP_SOURCES:
        raise doc.error(
            ("defaults", "source"),
            f"unknown source {preview(spec.defaults.source)}",
            f"use one of {', '.join(sorted(HTTP_SOURCES))}",
        )
    if not LABEL_NAME.match(glob.severity_label):
        raise doc.error(("alerting", "severity_label"), f"{preview(glob.severity_label)} is not a valid label name")
    slos: list[SLO] = []
    seen: dict[str, PathKey] = {}
    for index, entry in enumerate(spec.slos):
        loc: PathKey = ("slos", index)
        built = _pack(doc, spec, entry, loc) if isinstance(entry, v1.Pack) else [_slo(doc, spec, entry, loc)]
        for slo in built:
            if slo.name in seen:
                raise doc.error(
                    (*loc, "name") if isinstance(entry, v1.SLO) else (*loc, "pack"),
                    f"duplicate SLO name {preview(slo.name)}",
                    "every SLO of a service needs its own name",
                )
            seen[slo.name] = loc
            slos.append(slo)
    probes = _probes(doc, spec)
    for index, entry in enumerate(spec.slos):
        if isinstance(entry, v1.SLO) and entry.sli.probe is not None and entry.sli.probe.name not in probes:
            raise doc.error(
                ("slos", index, "sli", "probe", "name"),
                f"no probe named {preview(entry.sli.probe.name)}",
                f"declare it under probes: (declared: {', '.join(probes) or 'none'})",
            )
    runbooks, runbook_refs = build_runbooks(doc, spec.runbooks)
    return Spec(
        service=spec.service,
        slos=tuple(slos),
        path=doc.path,
        format="parapet/v1",
        labels=pairs(spec.labels),
        rules_dir=spec.output.rules_dir,
        topology=_topology(spec.topology),
        suppressions=tuple(
            Suppression(rule=s.rule, reason=s.reason, path=s.path, line=doc.locate(("doctor", "ignore", i)).line)
            for i, s in enumerate(spec.doctor.ignore)
        ),
        journeys=tuple(
            dict.fromkeys(e.sli.journey.name for e in spec.slos if isinstance(e, v1.SLO) and e.sli.journey is not None)
        ),
        retention=_retention(doc, spec),
        database=_database(doc, spec.database),
        cardinality=_cardinality(doc, spec.doctor.cardinality),
        alertmanager=_alertmanager(doc, spec.alertmanager),
        ui=_ui(doc, spec.ui),
        escalation=build_escalation(doc, spec.escalation, _notifier_names(spec)),
        notifiers=_notifiers(doc, spec.notifiers),
        audit=_audit(doc, spec.audit),
        probes=tuple(probes.values()),
        changes=_changes(doc, spec),
        prometheus=PrometheusSettings(url=spec.prometheus.url.rstrip("/") if spec.prometheus else None),
        mcp=_mcp(doc, spec.mcp),
        runbooks=runbooks,
        runbook_refs=runbook_refs,
    )


def _notifier_names(spec: v1.SpecV1) -> frozenset[str] | None:
    """The declared notifier targets (``notifiers:``), or None when the spec has no such section: escalation
    then checks only the form of the names it notifies."""
    return frozenset(spec.notifiers) if "notifiers" in spec.model_fields_set else None


def _notifiers(doc: SourceDocument, entries: Mapping[str, NotifierBase]) -> tuple[NotifierSettings, ...]:
    """``notifiers:``; each secret from exactly one of ``X_env`` / ``X_file`` (a file against the spec's
    folder), the required ones present, the kind's own cross-field checks; the other keys become options."""
    out: list[NotifierSettings] = []
    for name, entry in entries.items():
        loc: PathKey = ("notifiers", name)
        refs: list[SecretRef] = []
        for secret in entry.SECRETS:
            env, file = getattr(entry, f"{secret}_env"), getattr(entry, f"{secret}_file")
            if env is not None and file is not None:
                raise doc.error(
                    (*loc, f"{secret}_file"),
                    f"{secret} is given twice, as {secret}_env and {secret}_file",
                    "keep one of them",
                    key=True,
                )
            if env is None and file is None:
                if secret in entry.REQUIRED:
                    raise doc.error(
                        loc,
                        f"a {entry.kind} notifier needs its {secret}",
                        f"set {secret}_env (an environment variable's name) or {secret}_file (a file holding it)",
                    )
                continue
            path = (doc.path.parent / file) if file is not None and doc.path else (Path(file) if file else None)
            refs.append(SecretRef(field=secret, env=env, file=path))
        problems = entry.problems()
        if problems:
            field_name, message, hint = problems[0]
            raise doc.error((*loc, field_name), message, hint)
        skip = {"kind", "announce"} | {f"{s}_{how}" for s in entry.SECRETS for how in ("env", "file")}
        options = entry.model_dump(mode="json", by_alias=False, exclude=skip)
        out.append(
            NotifierSettings(
                name=name,
                kind=entry.kind,
                announce=entry.announce,
                secrets=tuple(refs),
                options=tuple(sorted(options.items())),
                line=doc.locate(loc).line,
                base=doc.path.parent if doc.path else None,
            )
        )
    return tuple(out)


def _probes(doc: SourceDocument, spec: v1.SpecV1) -> dict[str, Probe]:
    """``probes:`` by name: one kind each, names unique, 1s <= timeout <= every."""
    out: dict[str, Probe] = {}
    for i, p in enumerate(spec.probes):
        loc: PathKey = ("probes", i)
        if (p.http is None) == (p.call is None):
            raise doc.error(
                loc, "a probe needs exactly one of http and call", "write http: {url: …} or call: pkg.mod:fn"
            )
        if p.name in out:
            raise doc.error((*loc, "name"), f"duplicate probe name {preview(p.name)}", "every probe needs its own name")
        every, timeout = (_positive(doc, (*loc, key), getattr(p, key)) for key in ("every", "timeout"))
        if every < timedelta(seconds=1):
            raise doc.error((*loc, "every"), f"every: {p.every} is under a second", "probe at most once a second")
        if timeout > every:
            raise doc.error(
                (*loc, "timeout"),
                f"timeout {p.timeout} is longer than every: {p.every}",
                "a run must end before the next slot starts: shorten timeout or lengthen every",
            )
        check = None
        if p.http is not None:
            check = HttpCheck(
                url=p.http.url,
                method=p.http.method,
                body=p.http.body,
                expect_status=tuple(p.http.expect_status),
                expect_body=p.http.expect_body,
            )
        out[p.name] = Probe(name=p.name, every=every, timeout=timeout, http=check, call=p.call)
    return out


def _positive(doc: SourceDocument, loc: PathKey, text: str) -> timedelta:
    try:
        return parse_retention(text)
    except DurationError as exc:
        raise doc.error(loc, exc.message, exc.hint) from None


def _changes(doc: SourceDocument, spec: v1.SpecV1) -> ChangeSettings:
    """``changes:``; the window a positive duration, the token file against the spec's folder."""
    if "changes" not in spec.model_fields_set:
        return ChangeSettings()
    window = _positive(doc, ("changes", "window"), spec.changes.window)
    token = spec.changes.token_file
    return ChangeSettings(window=window, token_file=(doc.path.parent / token) if token and doc.path else None)


def _retention(doc: SourceDocument, spec: v1.SpecV1) -> Retention:
    """``retention:``, each value a positive duration (as ``parapet archive`` reads its own)."""
    if "retention" not in spec.model_fields_set:
        return Retention()
    values = {}
    for name in ("incidents", "system_events"):
        text = getattr(spec.retention, name)
        try:
            values[name] = parse_retention(text)
        except DurationError as exc:
            raise doc.error(("retention", name), exc.message, exc.hint) from None
    return Retention(**values)


def _alertmanager(doc: SourceDocument, am: v1.Alertmanager | None) -> AlertmanagerSettings:
    """``alertmanager:``; the repeat interval a positive duration, the token file against the spec's folder."""
    if am is None:
        return AlertmanagerSettings()
    try:
        repeat = parse_retention(am.repeat_interval)
    except DurationError as exc:
        raise doc.error(("alertmanager", "repeat_interval"), exc.message, exc.hint) from None
    token = (doc.path.parent / am.webhook_token_file) if am.webhook_token_file and doc.path else None
    return AlertmanagerSettings(
        url=am.url.rstrip("/") if am.url else None,
        repeat_interval=repeat,
        webhook_token_file=token,
        ignore_labels=tuple(am.ignore_labels),
        correlation=tuple(CorrelationRule(match=pairs(r.match), by=tuple(r.by)) for r in am.correlation),
    )


def _ui(doc: SourceDocument, ui: v1.UI | None) -> UISettings:
    """``ui:``; the users file against the spec's folder, each proxy network parsed (errors name the entry)."""
    if ui is None:
        return UISettings()
    import ipaddress

    users = (doc.path.parent / ui.users_file) if ui.users_file and doc.path else None
    proxies = ui.trusted_proxies
    if proxies is not None:
        for i, network in enumerate(proxies.networks):
            try:
                ipaddress.ip_network(network.strip(), strict=False)
            except ValueError:
                raise doc.error(
                    ("ui", "trusted_proxies", "networks", i),
                    f"{network!r} is not a network",
                    "write an address or a CIDR, e.g. 10.0.0.0/8 or 127.0.0.1",
                ) from None
    return UISettings(
        users_file=users,
        proxy_networks=tuple(proxies.networks) if proxies else (),
        proxy_user_header=proxies.user_header if proxies else "X-Forwarded-User",
        proxy_role_header=proxies.role_header if proxies else None,
        proxy_default_role=proxies.default_role if proxies else "viewer",
        trace_url=ui.trace_url,
        url=ui.url.rstrip("/") if ui.url else None,
    )


_AUDIT_NEEDS: dict[str, tuple[str, str]] = {
    "jsonl": ("path", "write the file to append to, e.g. path: var/audit.jsonl"),
    "syslog": ("address", "write address: udp://127.0.0.1:514, tcp://host:601 or unix:///dev/log"),
    "http": ("url", "write url:, or url_env:/url_file: when the URL carries a secret"),
}
_AUDIT_FIELDS: dict[str, frozenset[str]] = {
    "jsonl": frozenset({"path"}),
    "syslog": frozenset({"address", "facility"}),
    "http": frozenset({"url", "url_env", "url_file", "token_env", "token_file", "headers"}),
}


def _audit(doc: SourceDocument, audit: v1.Audit | None) -> AuditSettings:
    """``audit:``; each sink has what its kind needs and nothing another kind reads; names are unique;
    files resolve against the spec's folder."""
    if audit is None:
        return AuditSettings()
    seen: set[str] = set()
    sinks = []
    for i, sink in enumerate(audit.sinks):
        where: PathKey = ("audit", "sinks", i)
        if sink.name in seen:
            raise doc.error((*where, "name"), f"audit sink {sink.name!r} is declared twice", "give each sink a name")
        seen.add(sink.name)
        needed, hint = _AUDIT_NEEDS[sink.kind]
        given = {k for k in sink.model_fields_set if k not in ("name", "kind")}
        if sink.kind == "http":
            sources = [k for k in ("url", "url_env", "url_file") if k in given]
            if len(sources) != 1:
                raise doc.error(where, "an http audit sink needs exactly one of url, url_env, url_file", hint)
            if "token_env" in given and "token_file" in given:
                raise doc.error((*where, "token_file"), "give token_env or token_file, not both", "keep one")
        elif needed not in given:
            raise doc.error(where, f"a {sink.kind} audit sink needs {needed}", hint)
        stray = sorted(given - _AUDIT_FIELDS[sink.kind])
        if stray:
            raise doc.error(
                (*where, stray[0]),
                f"{stray[0]} does not apply to a {sink.kind} audit sink",
                f"{sink.kind} sinks read {', '.join(sorted(_AUDIT_FIELDS[sink.kind]))}",
            )
        base = doc.path.parent if doc.path else Path()
        sinks.append(
            AuditSinkSettings(
                name=sink.name,
                kind=sink.kind,
                path=base / sink.path if sink.path else None,
                address=sink.address,
                facility=sink.facility,
                url=sink.url,
                url_env=sink.url_env,
                url_file=base / sink.url_file if sink.url_file else None,
                token_env=sink.token_env,
                token_file=base / sink.token_file if sink.token_file else None,
                headers=tuple(sorted(sink.headers.items())),
            )
        )
    return AuditSettings(mode=audit.mode, sinks=tuple(sinks))


def _mcp(doc: SourceDocument, mcp: v1.MCP | None) -> MCPSettings:
    """``mcp:``; the token file against the spec's folder."""
    if mcp is None:
        return MCPSettings()
    token = (doc.path.parent / mcp.token_file) if mcp.token_file and doc.path else None
    return MCPSettings(
        token_file=token,
        allowed_hosts=tuple(h.strip() for h in mcp.allowed_hosts),
        allowed_origins=tuple(o.rstrip("/") for o in mcp.allowed_origins),
    )


def _database(doc: SourceDocument, database: v1.Database | None) -> Database | None:
    """``database:``; a URL that cannot be used is refused here, its password masked."""
    if database is None:
        return None
    from parapet.evidence.db import DatabaseUrlError, parse_url

    try:
        parse_url(database.url)
    except DatabaseUrlError as exc:
        raise doc.error(("database", "url"), exc.message, exc.hint) from None
    return Database(url=database.url.strip())


def _cardinality(doc: SourceDocument, section: v1.DoctorCardinality | None) -> CardinalitySettings | None:
    """``doctor: cardinality:``, the settings of ``parapet doctor cardinality`` (unset keys stay None)."""
    if section is None:
        return None
    wrappers = None
    if section.wrappers is not None:
        wrappers = tuple(
            MetricWrapper(
                call=w.call.strip(),
                kind=w.kind,
                name=_arg_ref(doc, ("doctor", "cardinality", "wrappers", i, "name"), w.name),
                labels=_arg_ref(doc, ("doctor", "cardinality", "wrappers", i, "labels"), w.labels),
                buckets=_arg_ref(doc, ("doctor", "cardinality", "wrappers", i, "buckets"), w.buckets),
            )
            for i, w in enumerate(section.wrappers)
        )
    return CardinalitySettings(
        max_labels=section.max_labels,
        allow_labels=None if section.allow_labels is None else tuple(section.allow_labels),
        histogram_budget=section.histogram_budget,
        label_fanout=section.label_fanout,
        label_sizes=None if section.label_sizes is None else tuple(section.label_sizes.items()),
        wrappers=wrappers,
    )


def _arg_ref(doc: SourceDocument, loc: PathKey, value: int | str | list[int | str]) -> ArgRef:
    """A wrapper's argument: a position, a keyword, or one of each."""
    items = value if isinstance(value, list) else [value]
    positions = [v for v in items if isinstance(v, int)]
    keywords = [v for v in items if isinstance(v, str)]
    if len(positions) > 1 or len(keywords) > 1:
        raise doc.error(loc, "give at most one position and one keyword", "write e.g. [2, labelnames]")
    return (positions[0] if positions else None, keywords[0] if keywords else None)


def _topology(topology: v1.Topology | None) -> Topology | None:
    if topology is None:
        return None
    return Topology(
        replicas=topology.replicas, workers=topology.workers, services=tuple(sorted(topology.services.items()))
    )


def _slo(doc: SourceDocument, spec: v1.SpecV1, slo: v1.SLO, loc: PathKey) -> SLO:
    check_labels(doc, (*loc, "labels"), slo.labels, reserved=c.INFO_LABELS)
    group_by = tuple(slo.group_by)
    for i, label in enumerate(group_by):
        if not LABEL_NAME.match(label) or label in c.RESERVED_LABELS or label.startswith("__"):
            raise doc.error(
                (*loc, "group_by", i), f"{preview(label)} cannot be a group_by label", "use a label of the SLI's series"
            )
    source = slo.sli.source or spec.defaults.source
    sli = build_sli(doc, (*loc, "sli"), slo.sli, source, group_by)
    built = SLO(
        name=slo.name,
        objective=Decimal(str(slo.objective)),
        sli=sli,
        period_days=checked_period(
            doc, (*loc, "period") if slo.period else ("defaults", "period"), slo.period or spec.defaults.period
        ),
        description=slo.description,
        group_by=group_by,
        labels=pairs(slo.labels),
        alerting=build_alerting(
            doc,
            (*loc, "alerting"),
            spec.service,
            slo.name,
            spec.alerting,
            slo.alerting,
            absent_by_default=sli.timeslice,
        ),
    )
    check_slo(doc, (*loc, "objective"), built, pairs(spec.labels))
    return built


def _pack(doc: SourceDocument, spec: v1.SpecV1, pack: v1.Pack, loc: PathKey) -> list[SLO]:
    source = pack.source or spec.defaults.source
    period = checked_period(
        doc, (*loc, "period") if pack.period else ("defaults", "period"), pack.period or spec.defaults.period
    )
    group_by = tuple(pack.group_by)
    check_labels(doc, (*loc, "labels"), pack.labels, reserved=c.INFO_LABELS)
    http = v1.HttpSLI(routes=pack.routes, filter=pack.filter)
    latency = v1.LatencySLI(threshold=pack.latency.threshold, filter=pack.filter)
    descriptions = {
        "availability": "Requests served without a server error (starter pack web)",
        "latency": "Requests served within the latency threshold (starter pack web)",
    }
    out = []
    for name, objective, sli_doc in (
        ("availability", pack.availability, v1.SLI(source=source, http=http)),
        ("latency", pack.latency.objective, v1.SLI(source=source, latency=latency)),
    ):
        sli_loc = (*loc, "latency") if name == "latency" else loc  # pack fields sit flat on the entry
        slo = SLO(
            name=name,
            objective=Decimal(str(objective)),
            sli=build_sli(doc, sli_loc, sli_doc, source, group_by, routes=tuple(pack.routes), flat=True),
            period_days=period,
            description=descriptions[name],
            group_by=group_by,
            labels=pairs(pack.labels),
            alerting=build_alerting(doc, (*loc, "alerting"), spec.service, name, spec.alerting, pack.alerting),
        )
        check_slo(
            doc,
            (*loc, "latency", "objective") if name == "latency" else (*loc, "availability"),
            slo,
            pairs(spec.labels),
        )
        out.append(slo)
    return out


# ---------------------------------------------------------------------------------------------- SLIs


def build_sli(
    doc: SourceDocument,
    loc: PathKey,
    sli: v1.SLI,
    source: str,
    group_by: tuple[str, ...],
    *,
    routes: tuple[str, ...] = (),
    flat: bool = False,
) -> SLI:
    kinds = [
        k for k in ("events", "latency", "http", "job", "journey", "freshness", "probe") if getattr(sli, k) is not None
    ]
    if len(kinds) != 1:
        raise doc.error(
            loc,
            "an SLI needs exactly one kind" + (f", found {', '.join(kinds)}" if kinds else ""),
            "use one of events, latency, http, job, journey, freshness, probe",
        )
    kind = kinds[0]
    kloc = loc if flat else (*loc, kind)
    if sli.source is not None and (kind == "events" or (kind == "latency" and sli.latency and sli.latency.histogram)):
        raise doc.error(
            (*loc, "source"),
            f"source does not apply to this {kind} SLI",
            "source picks the metrics of http and latency SLIs that name no histogram; remove it here",
        )
    if kind == "events":
        assert sli.events is not None
        return events_sli(doc, kloc, sli.events.error_query, sli.events.good_query, sli.events.total_query, group_by)
    if kind in ("job", "journey", "freshness", "probe") and source != "parapet":
        raise doc.error(
            (*loc, "source"),
            f"{kind} SLIs read Parapet's own metrics; source {preview(source)} has none",
            "drop source: (or set it to parapet), or write an events SLI over your own metrics",
        )
    if kind in ("http", "latency"):
        if kind == "latency" and sli.latency is not None and sli.latency.histogram is not None:
            return latency_sli(doc, kloc, sli.latency, None, group_by)
        if source not in HTTP_SOURCES:
            raise doc.error(
                (*loc, "source"),
                f"unknown source {preview(source)}",
                f"use one of {', '.join(sorted(HTTP_SOURCES))}",
            )
        if kind == "latency":
            assert sli.latency is not None
            return latency_sli(doc, kloc, sli.latency, source, group_by, routes=routes)
        assert sli.http is not None
        return http_sli(doc, kloc, sli.http, source, group_by)
    if kind == "job":
        assert sli.job is not None
        return job_sli(doc, kloc, sli.job, group_by)
    if kind == "journey":
        assert sli.journey is not None
        return _rate_pair(
            SLIKind.JOURNEY,
            "parapet",
            c.JOURNEY_EVENTS,
            ((c.LABEL_JOURNEY, "=", sli.journey.name),),
            ((c.LABEL_OUTCOME, "=", "failure"),),
            group_by,
        )
    if kind == "probe":
        assert sli.probe is not None
        return _rate_pair(
            SLIKind.PROBE,
            "parapet",
            f"{c.PROBE_DURATION}_count",
            ((c.LABEL_PROBE, "=", sli.probe.name),),
            ((c.LABEL_OUTCOME, "!=", "success"),),
            group_by,
        )
    assert sli.freshness is not None
    return freshness_sli(doc, kloc, sli.freshness, group_by)


def _filter(doc: SourceDocument, loc: PathKey, text: str) -> tuple[tuple[str, str, str], ...]:
    try:
        return label_matcher_list(text)
    except TemplateError as exc:
        raise doc.error((*loc, "filter"), f"filter: {exc}", exc.hint) from None


def _rate(metric: str, matchers: Iterable[tuple[str, str, str]], group_by: tuple[str, ...]) -> str:
    selector = format_matchers(sorted({_simplify(m) for m in matchers}))
    inner = f"rate({metric}{{{selector}}}[{{{{window}}}}])" if selector else f"rate({metric}[{{{{window}}}}])"
    return f"sum by ({', '.join(group_by)}) ({inner})" if group_by else f"sum({inner})"


def _simplify(matcher: tuple[str, str, str]) -> tuple[str, str, str]:
    """A regex matcher whose pattern is a plain literal becomes an equality matcher."""
    name, op, value = matcher
    if op in ("=~", "!~") and re.fullmatch(r"[A-Za-z0-9_/ :-]*", value):
        return (name, "=" if op == "=~" else "!=", value)
    return matcher


def _rate_pair(
    kind: SLIKind,
    source: str,
    metric: str,
    base: Iterable[tuple[str, str, str]],
    bad: Iterable[tuple[str, str, str]],
    group_by: tuple[str, ...],
) -> SLI:
    base = tuple(base)
    return SLI(
        kind=kind,
        total=_rate(metric, base, group_by),
        errors=_rate(metric, (*base, *bad), group_by),
        source=source,
    )


def _alternation(values: Iterable[str]) -> str:
    return "|".join(re.escape(v) for v in values)


def _routes(
    source_name: str, route_label: str | None, routes: tuple[str, ...], doc: SourceDocument, loc: PathKey
) -> list[tuple[str, str, str]]:
    if not routes:
        return []
    if route_label is None:
        raise doc.error(
            (*loc, "routes"),
            f"source {source_name} has no route label on its request counter",
            "use source: parapet (or another instrumentor that labels routes), or drop routes:",
        )
    return [(route_label, "=~", _alternation(routes))]


def http_sli(doc: SourceDocument, loc: PathKey, http: v1.HttpSLI, source_name: str, group_by: tuple[str, ...]) -> SLI:
    src = HTTP_SOURCES[source_name]
    matchers = list(_filter(doc, loc, http.filter))
    matchers += _routes(source_name, src.route_label, tuple(http.routes), doc, loc)
    if http.methods:
        bad = [m for m in http.methods if m.upper() not in HTTP_METHODS]
        if bad:
            raise doc.error(
                (*loc, "methods"), f"unknown HTTP method {preview(bad[0])}", f"use {', '.join(HTTP_METHODS)}"
            )
        if src.method_label is None:  # pragma: no cover - every source labels methods
            raise doc.error((*loc, "methods"), f"source {source_name} has no method label")
        matchers.append((src.method_label, "=~", "|".join(sorted(m.upper() for m in http.methods))))
    patterns: list[str] = []
    for i, raw in enumerate(http.errors):
        code = str(raw).lower()
        if re.fullmatch(r"[1-5]xx", code):
            patterns.append(code if src.status_classes else f"{code[0]}..")
        elif re.fullmatch(r"[1-5]\d\d", code):
            if src.status_classes:
                raise doc.error(
                    (*loc, "errors", i),
                    f"{source_name} groups status codes into classes, so {code} cannot be told apart",
                    "use classes such as 5xx, or switch to source: parapet",
                )
            patterns.append(code)
        else:
            raise doc.error(
                (*loc, "errors", i),
                f"{preview(raw)} is not a status code or class",
                "write codes like 503 or classes like 5xx",
            )
    if not patterns:
        raise doc.error(
            (*loc, "errors"), "no status counts as an error", "list at least one code or class, such as 5xx"
        )
    bad_matcher = (src.status_label, "=~", "|".join(sorted(set(patterns))))
    return _rate_pair(SLIKind.HTTP, source_name, src.requests, matchers, [bad_matcher], group_by)


def latency_sli(
    doc: SourceDocument,
    loc: PathKey,
    lat: v1.LatencySLI,
    source_name: str | None,
    group_by: tuple[str, ...],
    *,
    routes: tuple[str, ...] = (),
) -> SLI:
    threshold = Decimal(str(lat.threshold))
    matchers = list(_filter(doc, loc, lat.filter))
    if source_name is not None:
        src = HTTP_SOURCES[source_name]
        if src.histogram is None:  # pragma: no cover - every source has one
            raise doc.error(loc, f"source {source_name} has no latency histogram")
        histogram = src.histogram
        bounds = tuple(b / src.unit_scale for b in src.buckets)
        scale = src.unit_scale
        matchers += _routes(source_name, src.route_label, routes, doc, loc)
        origin = f"the buckets of {source_name}'s {histogram}"
    else:
        assert lat.histogram is not None
        histogram = lat.histogram.removesuffix("_bucket").removesuffix("_count")
        scale = Decimal(1000) if histogram.endswith("_milliseconds") else Decimal(1)
        if lat.buckets is not None:
            bounds = tuple(Decimal(str(b)) / scale for b in lat.buckets)
            origin = "the buckets you listed"
        elif histogram in CONTRACT_HISTOGRAMS:
            bounds = CONTRACT_HISTOGRAMS[histogram]
            origin = f"the buckets of {histogram} (METRICS.md)"
        else:
            raise doc.error(
                (*loc, "histogram"),
                f"the bucket bounds of {histogram} are unknown",
                "list them under buckets: so the threshold can be checked against them",
            )
        source_name = "custom"
    if threshold not in bounds:
        valid = ", ".join(format_decimal(b) for b in bounds)
        raise doc.error(
            (*loc, "threshold"),
            f"latency threshold {format_decimal(threshold)}s is not a bucket bound",
            f"a histogram can only count requests under a bound; use one of {valid} (seconds), from {origin}",
        )
    le = le_matcher(threshold * scale)
    return SLI(
        kind=SLIKind.LATENCY,
        total=_rate(f"{histogram}_count", matchers, group_by),
        good=_rate(f"{histogram}_bucket", (*matchers, le), group_by),
        source=source_name,
    )


def job_sli(doc: SourceDocument, loc: PathKey, job: v1.JobSLI, group_by: tuple[str, ...]) -> SLI:
    for field in ("bad_outcomes", "ignore_outcomes"):
        for i, outcome in enumerate(getattr(job, field)):
            if outcome not in JOB_OUTCOMES:
                raise doc.error(
                    (*loc, field, i), f"unknown job outcome {preview(outcome)}", f"use {', '.join(JOB_OUTCOMES)}"
                )
    if job.framework is not None and job.framework not in JOB_FRAMEWORKS:
        raise doc.error(
            (*loc, "framework"), f"unknown framework {preview(job.framework)}", f"use {', '.join(JOB_FRAMEWORKS)}"
        )
    if not job.bad_outcomes:
        raise doc.error((*loc, "bad_outcomes"), "no outcome counts as bad", "list at least one, such as failure")
    overlap = set(job.bad_outcomes) & set(job.ignore_outcomes)
    if overlap:
        raise doc.error(
            (*loc, "ignore_outcomes"),
            f"outcome {preview(sorted(overlap)[0])} is both bad and ignored",
            "list it in one place",
        )
    matchers = list(_filter(doc, loc, job.filter))
    for label, value in (
        (c.LABEL_JOB_TASK, job.task),
        (c.LABEL_JOB_QUEUE, job.queue),
        (c.LABEL_JOB_FRAMEWORK, job.framework),
    ):
        if value is not None:
            matchers.append((label, "=", value))
    if job.ignore_outcomes:
        matchers.append((c.LABEL_OUTCOME, "!~", "|".join(sorted(job.ignore_outcomes))))
    bad = [(c.LABEL_OUTCOME, "=~", "|".join(sorted(job.bad_outcomes)))]
    return _rate_pair(SLIKind.JOB, "parapet", f"{c.JOB_DURATION}_count", matchers, bad, group_by)


def freshness_sli(doc: SourceDocument, loc: PathKey, fresh: v1.FreshnessSLI, group_by: tuple[str, ...]) -> SLI:
    max_age = int(parse_duration(check_duration(doc, (*loc, "max_age"), fresh.max_age)).total_seconds())
    matchers = [(c.LABEL_JOB_TASK, "=", fresh.task)]
    if fresh.framework is not None:
        matchers.append((c.LABEL_JOB_FRAMEWORK, "=", fresh.framework))
    by = f" by ({', '.join(group_by)}) " if group_by else ""
    age = f"(time() - max{by}({c.JOB_LAST_SUCCESS}{{{format_matchers(sorted(matchers))}}}))"
    # Each evaluation is one time slice: total is 1, errors is 1 while the last success is too old.
    return SLI(
        kind=SLIKind.FRESHNESS,
        total=f"{age} * 0 + 1",
        errors=f"{age} > bool {max_age}",
        source="parapet",
        timeslice=True,
    )


# ------------------------------------------------------------------------------------------ alerting


def build_alerting(
    doc: SourceDocument,
    loc: PathKey,
    service: str,
    slo_name: str,
    glob: v1.GlobalAlerting,
    own: v1.SLOAlerting | None,
    *,
    absent_by_default: bool = False,
) -> Alerting | None:
    own = own or v1.SLOAlerting()
    tiers: list[AlertTier] = []
    for severity in ("page", "ticket"):
        base: v1.Tier = getattr(glob, severity)
        override: v1.Tier | None = getattr(own, severity)
        merged_labels = {**glob.labels, **own.labels, **base.labels, **(override.labels if override else {})}
        merged_annotations = {**base.annotations, **(override.annotations if override else {})}
        tier_loc = (*loc, severity) if override is not None else ("alerting", severity)
        check_labels(doc, (*tier_loc, "labels"), merged_labels, reserved=[glob.severity_label])
        check_annotations(doc, (*tier_loc, "annotations"), merged_annotations)
        for_ = (override.for_ if override and override.for_ else None) or base.for_ or DEFAULT_FOR[severity]
        check_duration(doc, (*tier_loc, "for"), for_)
        tiers.append(
            AlertTier(
                severity=severity,
                label_value=getattr(glob.severities, severity),
                enabled=not _first_set(override.disable if override is not None else None, base.disable, False),
                for_=for_,
                labels=pairs(merged_labels),
                annotations=pairs(merged_annotations),
            )
        )
    check_labels(doc, (*loc, "labels"), own.labels, reserved=[glob.severity_label])
    check_annotations(doc, ("alerting", "annotations"), glob.annotations)
    check_annotations(doc, (*loc, "annotations"), own.annotations)
    if own.absent is not None:
        absent = own.absent
    elif "absent" in glob.model_fields_set:
        absent = glob.absent
    else:
        # a freshness SLI whose timestamp metric vanished would otherwise go silent
        absent = absent_by_default
    absent_for = None
    absent_severity = "ticket"
    if absent is True:
        absent_for = v1.AbsentAlert().for_
    elif isinstance(absent, v1.AbsentAlert):
        absent_for = check_duration(doc, (*loc, "absent", "for"), absent.for_)
        absent_severity = absent.severity
    if not any(t.enabled for t in tiers) and absent_for is None:
        return None
    runbook_template = own.runbook_url or glob.runbook_url
    runbook = fill_template(runbook_template, service=service, slo=slo_name) if runbook_template else None
    if not runbook:
        raise doc.error(
            loc if own.model_fields_set else loc[:-1],
            f"SLO {preview(slo_name)} alerts but has no runbook_url",
            "add alerting: runbook_url: https://… to the SLO (or a {slo} template under the top-level alerting:)",
        )
    uid = c.slo_dashboard_uid(service, slo_name)
    dashboard = own.dashboard_url or glob.dashboard_url
    if dashboard:
        dashboard = fill_template(dashboard, service=service, slo=slo_name, uid=uid)
    min_events = own.min_events if own.min_events is not None else glob.min_events
    return Alerting(
        name=own.name or c.alert_name(service, slo_name),
        runbook_url=runbook,
        page=tiers[0],
        ticket=tiers[1],
        severity_label=glob.severity_label,
        labels=pairs({**glob.labels, **own.labels}),
        annotations=pairs({**glob.annotations, **own.annotations}),
        min_events=None if min_events == "auto" else int(min_events),
        min_errors=own.min_errors if own.min_errors is not None else glob.min_errors,
        absent_for=absent_for,
        absent_severity=absent_severity,
        dashboard_url=dashboard,
    )


def _first_set(*values: bool | None) -> bool:
    return next(v for v in values if v is not None)


__all__ = ["SpecError", "build_v1"]
