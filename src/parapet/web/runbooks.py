"""The runbooks part of the operator UI: an incident's runbooks, one-click mitigations and their override.

    GET  /incidents/{id}/runbooks/{runbook}/{step}/run   the confirm page: what the step does, its parameters
                                                         (typed, defaults filled over the incident), who else
                                                         has it requested or running, the breaker's state
    POST /incidents/{id}/runbooks/{runbook}/{step}/run   claim + enqueue (parapet.automation.runs.request_run),
                                                         then 303 to the run's page; every later click of the
                                                         same run lands on the same page, nothing runs twice
    GET  /incidents/{id}/mitigations/{claim}             the run: requested, running (refreshes itself), its
                                                         outcome, error, output and tool audit
    POST /incidents/{id}/runbooks/{runbook}/{step}/automation   the operator's override: automatic runs of
                                                         the step on this incident off (or back on)
    GET  /runbooks/{name}  and  /runbooks/{service}/{slo}   a runbook's page, for ``alerting.runbook_url``
                                                         (https://ops.example.com/parapet/runbooks/{service}/{slo})

Every POST goes through the UI's checks (signed-in user with the "mitigate" role, origin, CSRF). Guidance is
Markdown rendered with raw HTML off; links are filled over the incident's labels and only http(s) ones link.
The incident page includes ``partials/runbooks.html`` with what ``incident_context`` reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from parapet.automation import breaker as breakers
from parapet.automation.catalog import Catalog, matches
from parapet.automation.params import FormField, ParameterErrors, form_fields
from parapet.automation.runs import (
    MITIGATION,
    PENDING,
    RUNNING,
    SYSTEM_AUTOMATION,
    Claim,
    ReasonRequired,
    automation_disabled,
    claim_by_id,
    set_automation,
    step_ref,
    target_of,
)
from parapet.automation.runs import request as request_by_person
from parapet.automation.templates import fill
from parapet.evidence.schema import action_claims, timeline_entries, tool_audits
from parapet.evidence.store import Incident, IncidentNotFound, TimelineEntry, ToolAudit
from parapet.spec.model import Runbook, Step
from parapet.web.app import WebSettings
from parapet.web.security import session_of

if TYPE_CHECKING:
    from parapet.web.ui import UI

GUIDANCE_MAX: Final = 256 * 1024
REASON_MAX: Final = 2_000
RECENT_RUNS: Final = 5


@dataclass(frozen=True)
class StepView:
    step: Step
    html: Markup | None = None  # guidance
    href: str | None = None  # link
    link_text: str = ""
    runs: tuple[Claim, ...] = ()  # mitigation: this incident's runs, newest first
    disabled_by: str | None = None
    breaker: breakers.BreakerState | None = None


@dataclass(frozen=True)
class RunbookView:
    runbook: Runbook
    steps: tuple[StepView, ...] = field(default_factory=tuple)


def _markdown() -> MarkdownIt:
    # commonmark with raw HTML off: a runbook's text is shown, never executed; markdown-it refuses
    # javascript: and data: links by itself
    return MarkdownIt("commonmark", {"html": False})


class RunbooksPart:
    def __init__(self, settings: WebSettings, catalog: Catalog) -> None:
        self.store = settings.store
        self.engine = settings.store.engine
        self.catalog = catalog
        self.md = _markdown()
        self.ui: UI | None = None

    # -- what the incident page shows ---------------------------------------------------------------

    def incident_context(self, incident: Incident) -> dict[str, Any]:
        found = self.catalog.for_incident(incident)
        if not found:
            return {"runbooks": []}
        now = self.store.clock()
        with self.engine.connect() as conn:
            claims = [
                Claim(**dict(r._mapping))
                for r in conn.execute(
                    select(action_claims)
                    .where(action_claims.c.incident_id == incident.id, action_claims.c.action_kind == MITIGATION)
                    .order_by(action_claims.c.claimed_at.desc(), action_claims.c.id.desc())
                ).all()
            ]
            views = []
            for runbook in found:
                steps = []
                for step in runbook.steps:
                    steps.append(self._step_view(conn, incident, runbook, step, claims, now))
                views.append(RunbookView(runbook, tuple(steps)))
        return {"runbooks": views}

    def _step_view(
        self, conn: Any, incident: Incident | None, runbook: Runbook, step: Step, claims: list[Claim], now: datetime
    ) -> StepView:
        if step.kind == "guidance":
            return StepView(step, html=self.guidance(step))
        if step.kind == "link":
            url = fill(step.url, incident) if incident is not None else step.url
            from parapet.web.ui import safe_href

            return StepView(step, href=safe_href(url), link_text=step.title or url)
        prefix = step_ref(runbook, step) + ":"
        runs = tuple(c for c in claims if c.action_key.startswith(prefix))[:RECENT_RUNS]
        if incident is None:
            return StepView(step, runs=runs)
        return StepView(
            step,
            runs=runs,
            disabled_by=automation_disabled(conn, incident.id, runbook.name, step.name) if step.auto else None,
            breaker=breakers.state(conn, step_ref(runbook, step), target_of(step, incident), step.breaker, now),
        )

    def guidance(self, step: Step) -> Markup:
        text = step.text
        if step.file is not None:
            try:
                with step.file.open(encoding="utf-8") as handle:
                    text = handle.read(GUIDANCE_MAX)
            except OSError:
                text = f"*The guidance file `{step.file.name}` cannot be read.*"
        return Markup(self.md.render(text))

    # -- routes --------------------------------------------------------------------------------------

    def routes(self, ui: UI) -> list[BaseRoute]:
        self.ui = ui
        base = "/incidents/{incident_id:int}/runbooks/{runbook:str}/{step:str}"
        return [
            Route(base + "/run", self.confirm_page, methods=["GET"], name="ui_mitigation_confirm"),
            Route(base + "/run", self.run, methods=["POST"], name="ui_mitigation_run"),
            Route(base + "/automation", self.automation, methods=["POST"], name="ui_mitigation_automation"),
            Route("/incidents/{incident_id:int}/mitigations/{claim:int}", self.result, methods=["GET"]),
            Route("/runbooks/{name:str}", self.runbook_page, methods=["GET"]),
            Route("/runbooks/{service:str}/{slo:str}", self.runbook_for_slo, methods=["GET"]),
        ]

    def _ui(self) -> UI:
        assert self.ui is not None
        return self.ui

    def _find(self, request: Request) -> tuple[Runbook, Step]:
        found = self.catalog.step(str(request.path_params["runbook"]), str(request.path_params["step"]))
        if found is None or found[1].kind != "mitigation":
            raise HTTPException(404, "no such mitigation")
        return found

    async def confirm_page(self, request: Request) -> Response:
        ui = self._ui()
        user = await ui.identify(request)
        if isinstance(user, Response):
            return user
        runbook, step = self._find(request)
        incident_id = int(request.path_params["incident_id"])
        try:
            return await self._confirm(request, incident_id, runbook, step)
        except IncidentNotFound:
            return ui._not_found(request, incident_id)

    async def _confirm(
        self,
        request: Request,
        incident_id: int,
        runbook: Runbook,
        step: Step,
        *,
        errors: dict[str, str] | None = None,
        given: dict[str, str] | None = None,
        reason: str = "",
        status: int = 200,
    ) -> Response:
        def reads() -> tuple[Incident, list[FormField], list[Claim], breakers.BreakerState, Claim | None]:
            incident = self.store.get(incident_id)
            if not any(r.name == runbook.name for r in self.catalog.for_incident(incident)):
                raise HTTPException(404, "this runbook does not apply to this incident")
            prefix = step_ref(runbook, step) + ":"
            with self.engine.connect() as conn:
                last = conn.execute(
                    select(action_claims)
                    .where(
                        action_claims.c.incident_id == incident_id,
                        action_claims.c.action_kind == MITIGATION,
                        action_claims.c.action_key.startswith(prefix, autoescape=True),
                    )
                    .order_by(action_claims.c.claimed_at.desc(), action_claims.c.id.desc())
                    .limit(1)
                ).first()
                others = [
                    Claim(**dict(r._mapping))
                    for r in conn.execute(
                        select(action_claims).where(
                            action_claims.c.action_kind == MITIGATION,
                            action_claims.c.status.in_((PENDING, RUNNING)),
                            action_claims.c.action_key.startswith(prefix, autoescape=True),
                        )
                    ).all()
                ]
                state = breakers.state(
                    conn, step_ref(runbook, step), target_of(step, incident), step.breaker, self.store.clock()
                )
            previous = Claim(**dict(last._mapping)) if last is not None else None
            return incident, form_fields(step, incident, given), others, state, previous

        incident, fields, others, state, previous = await run_in_threadpool(reads)
        return self._ui().render(
            request,
            "runbook_confirm.html",
            {
                "incident": incident,
                "runbook": runbook,
                "step": step,
                "fields": fields,
                "secrets": [p for p in step.parameters if p.secret],
                "others": others,
                "breaker": state,
                "previous": previous if previous is not None and previous.finished else None,
                "errors": errors or {},
                "reason": reason,
                "description": Markup(self.md.render(step.text)) if step.text else None,
            },
            status,
        )

    async def run(self, request: Request) -> Response:
        ui = self._ui()
        checked = await ui.posted(request, "mitigate")
        if isinstance(checked, Response):
            return checked
        user, form = checked
        runbook, step = self._find(request)
        incident_id = int(request.path_params["incident_id"])
        given = {p.name: str(form.get(p.name) or "") for p in step.parameters if not p.secret}
        reason = str(form.get("reason") or "").strip()[:REASON_MAX]
        again_text = str(form.get("again") or "")
        again = int(again_text) if again_text.isdigit() else None
        now = self.store.clock()

        def work() -> tuple[bool, Claim]:
            done = request_by_person(
                self.engine,
                incident_id,
                runbook,
                step,
                actor=user.name,
                given=given,
                now=now,
                reason=reason or None,
                again=again,
            )
            return done.won, done.claim

        try:
            won, claim = await run_in_threadpool(work)
        except IncidentNotFound:
            return ui._not_found(request, incident_id)
        except ParameterErrors as exc:
            return await self._confirm(
                request, incident_id, runbook, step, errors=exc.errors, given=given, reason=reason, status=400
            )
        except ReasonRequired as exc:
            return await self._confirm(
                request,
                incident_id,
                runbook,
                step,
                errors={"reason": f"{exc.message}: {exc.hint}"},
                given=given,
                reason=reason,
                status=400,
            )
        if won:
            session_of(request)["flash"] = f"{step.title} requested: it runs once, on the first free worker."
        else:
            session_of(request)["flash"] = (
                f"{step.title} was already requested by {claim.claimed_by}; this is that run (nothing runs twice)."
            )
        return RedirectResponse(f"{ui.root(request)}/incidents/{incident_id}/mitigations/{claim.id}", status_code=303)

    async def result(self, request: Request) -> Response:
        ui = self._ui()
        user = await ui.identify(request)
        if isinstance(user, Response):
            return user
        incident_id = int(request.path_params["incident_id"])
        claim_id = int(request.path_params["claim"])

        def reads() -> tuple[Incident, Claim | None, list[TimelineEntry], list[ToolAudit]]:
            incident = self.store.get(incident_id)
            with self.engine.connect() as conn:
                claim = claim_by_id(conn, claim_id)
                if claim is None or claim.incident_id != incident_id:
                    return incident, None, [], []
                rows = conn.execute(
                    select(timeline_entries)
                    .where(
                        timeline_entries.c.incident_id == incident_id,
                        timeline_entries.c.kind.startswith("mitigation_"),
                    )
                    .order_by(timeline_entries.c.at, timeline_entries.c.id)
                ).all()
                entries = [TimelineEntry(**dict(r._mapping)) for r in rows if (r.data or {}).get("claim") == claim.id]
                ids = [e.id for e in entries]
                audits = (
                    [
                        ToolAudit(**dict(r._mapping))
                        for r in conn.execute(select(tool_audits).where(tool_audits.c.timeline_entry_id.in_(ids))).all()
                    ]
                    if ids
                    else []
                )
            return incident, claim, entries, audits

        try:
            incident, claim, entries, audits = await run_in_threadpool(reads)
        except IncidentNotFound:
            return ui._not_found(request, incident_id)
        if claim is None:
            return ui.problem(request, 404, "No such run", f"Incident {incident_id} has no run {claim_id}.")
        rb, _, rest = claim.action_key.partition("/")
        step_name = rest.split(":", 1)[0]
        found = self.catalog.step(rb, step_name)
        return ui.render(
            request,
            "runbook_result.html",
            {
                "incident": incident,
                "claim": claim,
                "entries": entries,
                "audits": audits,
                "runbook_name": rb,
                "step": found[1] if found else None,
                "system": claim.claimed_by == SYSTEM_AUTOMATION,
            },
        )

    async def automation(self, request: Request) -> Response:
        ui = self._ui()
        checked = await ui.posted(request, "mitigate")
        if isinstance(checked, Response):
            return checked
        user, form = checked
        runbook, step = self._find(request)
        incident_id = int(request.path_params["incident_id"])
        enabled = str(form.get("enabled") or "") == "true"
        try:
            await run_in_threadpool(
                set_automation,
                self.engine,
                incident_id,
                runbook.name,
                step.name,
                enabled=enabled,
                actor=user.name,
                now=self.store.clock(),
            )
        except IncidentNotFound:
            return ui._not_found(request, incident_id)
        word = "enabled" if enabled else "disabled"
        session_of(request)["flash"] = f"Automatic runs of {step.title} {word} on incident {incident_id}."
        return RedirectResponse(f"{ui.root(request)}/incidents/{incident_id}#runbooks-title", status_code=303)

    async def runbook_page(self, request: Request) -> Response:
        ui = self._ui()
        user = await ui.identify(request)
        if isinstance(user, Response):
            return user
        found = self.catalog.get(str(request.path_params["name"]))
        if found is None:
            return ui.problem(request, 404, "No such runbook", "No runbook of this Parapet has that name.")
        return self._page(request, [found], found.title)

    async def runbook_for_slo(self, request: Request) -> Response:
        ui = self._ui()
        user = await ui.identify(request)
        if isinstance(user, Response):
            return user
        service, slo = str(request.path_params["service"]), str(request.path_params["slo"])
        probe = _probe(service, slo)
        found = [r for r in self.catalog.runbooks if matches(r, probe)]
        if not found:
            return ui.problem(
                request, 404, "No runbook for this SLO", f"No runbook matches service {service}, SLO {slo}."
            )
        return self._page(request, found, f"{service} / {slo}")

    def _page(self, request: Request, runbooks: list[Runbook], title: str) -> Response:
        views = [
            RunbookView(r, tuple(self._step_view(None, None, r, s, [], self.store.clock()) for s in r.steps))
            for r in runbooks
        ]
        return self._ui().render(request, "runbook_page.html", {"views": views, "title": title})


def _probe(service: str, slo: str) -> Incident:
    """An incident as an alert of this SLO would open it, to find the runbooks that match it."""
    from datetime import UTC

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return Incident(
        id=0,
        correlation_key="",
        fingerprint=None,
        alert_name="",
        service=service,
        slo=slo,
        severity="",
        severity_rank=0,
        state="open",
        title="",
        summary=None,
        labels={"service": service, "slo": slo},
        annotations={},
        runbook_url=None,
        trace_id=None,
        opened_at=epoch,
        opened_by="",
        acknowledged_at=None,
        acknowledged_by=None,
        resolved_at=None,
        resolved_by=None,
        last_seen_at=epoch,
        occurrence_count=0,
        updated_at=epoch,
        version=0,
    )


def part(settings: WebSettings) -> RunbooksPart:
    """The part for ``parapet.web.ui``: the catalog is loaded (and every callable imported) now, so a bad
    reference stops the app at start-up with the spec's file:line:col."""
    from parapet.automation.jobs import catalog_for

    return RunbooksPart(settings, catalog_for(settings.spec))
