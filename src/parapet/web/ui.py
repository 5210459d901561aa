"""The operator UI: server-rendered pages and plain forms that post and redirect (no JavaScript needed).

    GET  /                                   the queue: keyset pages, filters (state, severity, service), counts
    GET  /incidents/{id}                     summary, labels, links, suspect changes, timeline (newest first)
    POST /incidents/{id}/acknowledge         responder; each form carries expected_version and the newest
    POST /incidents/{id}/resolve             timeline entry it saw; a stale one gets a 409 page showing what
    POST /incidents/{id}/reopen              changed since, with the form again at the current version
    POST /incidents/{id}/notes
    GET  /incidents/{id}/retrospective       the Markdown retrospective to copy; ``.md`` downloads it
    GET  /admin/jobs  POST /admin/jobs/retry the work engine's dead jobs (admin; ``parapet.web.jobs``)
    GET  /login  POST /login  POST /logout   only with ``parapet serve``'s users file
    GET  /static/…                           CSS and JS from the package (the CSP allows nothing inline)

Every POST: a known user with the role for it, the Origin / Sec-Fetch-Site check and the CSRF token
(403 and nothing written otherwise), ``expected_version``, one store command, one timeline entry.
Store calls are synchronous and run in the thread pool.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import urlencode, urlsplit

from anyio import CapacityLimiter, to_thread
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from parapet.evidence import retrospective
from parapet.evidence.schema import ACTIVE_STATES, STATE_ACKNOWLEDGED, STATE_OPEN, STATE_RESOLVED
from parapet.evidence.store import (
    ActiveIncidentExists,
    AlertInstance,
    IllegalTransition,
    Incident,
    IncidentLink,
    IncidentNotFound,
    InvalidQuery,
    QueuePage,
    StaleVersion,
    StateCount,
    Store,
    SystemEvent,
    TimelineEntry,
    TimelinePage,
)
from parapet.web import jobs
from parapet.web.app import WebSettings
from parapet.web.identity import ACTIONS, Authenticator, Role, TrustedProxies, User, UsersFile
from parapet.web.links import safe_href as safe_href  # re-exported: parapet.web.runbooks imports it here
from parapet.web.links import trace_href as trace_href
from parapet.web.security import (
    CSRF_FIELD,
    SecurityHeadersMiddleware,
    SessionMiddleware,
    csrf_token,
    read_form,
    session_of,
    session_secret,
)
from parapet.web.templating import environment, host_templates_dir

TIMELINE_PAGE: Final = 50
QUEUE_PAGE: Final = 30
NOTE_MAX: Final = 10_000
FACETS_TTL_S: Final = 30.0
STATE_FILTERS: Final = {
    "active": ACTIVE_STATES,
    STATE_OPEN: (STATE_OPEN,),
    STATE_ACKNOWLEDGED: (STATE_ACKNOWLEDGED,),
    STATE_RESOLVED: (STATE_RESOLVED,),
}
STALE_FILTERS: Final[dict[str, bool | None]] = {"": None, "yes": True, "no": False}
# Parts that add a panel to the incident page (escalation, notifiers, runbooks…): name -> reader(store,
# incident), run with the page's other reads in the thread pool; its result is ``panels[name]`` in the
# template, which the part's partial (``partials/<name>.html``, one include line) reads. A part's route
# module registers its reader when create_app builds its route group.
INCIDENT_PANELS: Final[dict[str, Callable[[Store, Incident], Any]]] = {}
# action -> (store method, states it applies to, past tense for the flash message)
TRANSITIONS: Final = {
    "acknowledge": ("acknowledge", (STATE_OPEN,), "Acknowledged"),
    "resolve": ("resolve", (STATE_OPEN, STATE_ACKNOWLEDGED), "Resolved"),
    "reopen": ("reopen", (STATE_RESOLVED,), "Reopened"),
}


@dataclass
class UIConfig:
    """What the UI needs; ``create_app`` builds it from its own arguments."""

    store: Store
    auth: Authenticator
    session_secret: str | bytes
    templates_dir: Path | None = None
    allowed_origins: Sequence[str] = ()
    https_only: bool | None = None  # None: Secure cookies when the request came over https
    trace_url: str | None = None  # e.g. https://tempo.example/trace/{trace_id}
    change_window: timedelta = timedelta(hours=1)  # suspect changes: this long before the incident opened
    title: str = "Parapet"
    extra_context: dict[str, Any] = field(default_factory=dict)
    parts: Sequence[UIPart] = ()  # parts of the UI in their own modules (parapet.web.runbooks)


class UIPart(Protocol):
    """A part of the UI in its own module, built per app from its settings (``INCIDENT_PANELS`` is for parts that
    need only the store): routes inside the UI's session and CSRF checks, and its panels on the incident page
    (``panels[name]``, read in the thread pool with the page's other reads)."""

    def routes(self, ui: UI) -> list[BaseRoute]: ...

    def incident_context(self, incident: Incident) -> dict[str, Any]: ...


def _static_version() -> str:
    digest = hashlib.sha256()
    root = files("parapet.web").joinpath("static")
    for name in sorted(p.name for p in root.iterdir()):
        digest.update(root.joinpath(name).read_bytes())
    return digest.hexdigest()[:12]


def local_next(target: str | None, root: str) -> str:
    """A redirect target inside the UI, never another site (``//evil``, ``https://evil``)."""
    if target and target.startswith((root + "/", root + "?")) and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return root + "/"


class UI:
    def __init__(self, settings: UIConfig) -> None:
        self.settings = settings
        self.store = settings.store
        self.auth = settings.auth
        env = environment(settings.templates_dir)
        env.filters["when"] = _when
        env.filters["duration"] = retrospective.duration
        env.filters["sevclass"] = _severity_class
        env.globals["static_version"] = _static_version()
        env.globals["app_title"] = settings.title
        self.templates = Jinja2Templates(env=env)
        self.login_limiter = CapacityLimiter(2)
        self._facet_cache: tuple[float, list[str], list[str]] | None = None

    # -- plumbing ---------------------------------------------------------------------------------

    def root(self, request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    def render(self, request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        user: User | None = request.scope.get("parapet.user")
        base = {
            "root": self.root(request),
            "user": user,
            "csrf_field": CSRF_FIELD,
            "csrf": csrf_token(session_of(request)),
            "flash": session_of(request).pop("flash", None),
            "now": self.store.clock(),
            **self.settings.extra_context,
        }
        return self.templates.TemplateResponse(request, name, {**base, **context}, status_code=status)

    def problem(self, request: Request, status: int, title: str, detail: str, *, links: Any = ()) -> Response:
        return self.render(request, "problem.html", {"title": title, "detail": detail, "links": links}, status)

    async def identify(self, request: Request) -> User | Response:
        """The user, or the response that sends them to sign in (or refuses)."""
        session_user = session_of(request).get("user")
        user = await self.auth.user(request, session_user if isinstance(session_user, str) else None)
        if user is not None:
            request.scope["parapet.user"] = user
            return user
        root = self.root(request)
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if self.auth.users_file is not None:
            return RedirectResponse(f"{root}/login?{urlencode({'next': here})}", status_code=303)
        if self.auth.login_url:
            return RedirectResponse(self.auth.login_url, status_code=303)
        if not self.auth.configured:
            return self.problem(
                request,
                403,
                "No sign-in is configured",
                "This Parapet has no way to know who you are: the host supplies no user, and there is no users "
                "file or trusted proxy. See docs/operating.md, section Identity.",
            )
        return self.problem(request, 401, "Sign in first", "Sign in to the application that hosts Parapet.")

    async def posted(self, request: Request, action: str) -> tuple[User, FormData] | Response:
        """The user and form of a POST that passed identity, origin, CSRF and role checks."""
        user = await self.identify(request)
        if isinstance(user, Response):
            return user
        form = await read_form(request, self.settings.allowed_origins)
        if form is None:
            return self.problem(
                request,
                403,
                "This form was refused",
                "It came from another site, or without this session's security token (the page may be old, "
                "or you signed in again meanwhile). Nothing was changed: reload the page and try again.",
            )
        if not user.can(action):
            return self.problem(
                request,
                403,
                "Not allowed",
                f"You are signed in as {user.name} ({user.role.value}); to {action.replace('_', ' ')}, "
                f"{_needed(action)} role is needed. Nothing was changed.",
            )
        return user, form

    # -- pages ------------------------------------------------------------------------------------

    async def queue(self, request: Request) -> Response:
        user = await self.identify(request)
        if isinstance(user, Response):
            return user
        params = request.query_params
        state = params.get("state") or "active"
        severity = params.get("severity") or None
        service = params.get("service") or None
        cursor = params.get("cursor") or None
        stale_param = params.get("stale") or ""
        if stale_param not in STALE_FILTERS:
            return self.problem(
                request,
                400,
                "Unknown stale filter",
                "Use stale=yes or stale=no, or leave it out.",
                links=[("Queue", "/")],
            )
        if state not in STATE_FILTERS:
            return self.problem(
                request, 400, "Unknown state filter", f"Use one of: {', '.join(STATE_FILTERS)}.", links=[("Queue", "/")]
            )

        def reads() -> tuple[QueuePage, dict[str, StateCount], set[int]]:
            # One trip to the thread pool for the page's reads: each hop costs a context switch, which on a
            # busy machine is most of a fast query's time.
            page = self.store.queue(
                states=STATE_FILTERS[state],
                severity=severity,
                service=service,
                stale=STALE_FILTERS[stale_param],
                limit=QUEUE_PAGE,
                cursor=cursor,
            )
            counts = self.store.queue_counts(severity=severity, service=service)
            return page, counts, self.store.stale_incident_ids([i.id for i in page.items])

        try:
            page, counts, stale_ids = await run_in_threadpool(reads)
        except InvalidQuery as exc:
            return self.problem(request, 400, "This page link is broken", f"{exc.message}.", links=[("Queue", "/")])
        services, severities = await self._facets()
        if service and service not in services:
            services.append(service)
        if severity and severity not in severities:
            severities.append(severity)
        filters = {"state": state, "severity": severity or "", "service": service or "", "stale": stale_param}
        return self.render(
            request,
            "queue.html",
            {
                "page": page,
                "stale_ids": stale_ids,
                "filters": filters,
                "counts": counts,
                "services": sorted(services),
                "severities": sorted(severities),
                "state_filters": list(STATE_FILTERS),
                "query": lambda **changes: _query({**filters, **changes}),
                "first_page": cursor is not None,
            },
        )

    async def _facets(self) -> tuple[list[str], list[str]]:
        """The filters' choices, read at most every FACETS_TTL_S: a DISTINCT over every active incident is
        the queue page's one cost that grows with the active set, and a choice a few seconds late is harmless
        (the value in use is always offered)."""
        now = time.monotonic()
        if self._facet_cache is None or now - self._facet_cache[0] > FACETS_TTL_S:
            services, severities = await run_in_threadpool(self.store.queue_facets)
            self._facet_cache = (now, services, severities)
        return list(self._facet_cache[1]), list(self._facet_cache[2])

    async def incident(self, request: Request) -> Response:
        user = await self.identify(request)
        if isinstance(user, Response):
            return user
        incident_id = int(request.path_params["incident_id"])
        before = request.query_params.get("before") or None
        try:
            return await self._incident_page(request, incident_id, before=before)
        except IncidentNotFound:
            return self._not_found(request, incident_id)
        except InvalidQuery as exc:
            return self.problem(request, 400, "This page link is broken", f"{exc.message}.")

    async def _incident_page(
        self,
        request: Request,
        incident_id: int,
        *,
        before: str | None = None,
        status: int = 200,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> Response:

        def reads() -> tuple[
            Incident, TimelinePage, list[SystemEvent], list[AlertInstance], list[IncidentLink], dict[str, Any]
        ]:
            incident = self.store.get(incident_id)
            return (
                incident,
                self.store.timeline_page(incident_id, limit=TIMELINE_PAGE, before=before),
                self.store.changes_before(incident, window=self.settings.change_window),
                self.store.alert_instances(incident_id),
                self.store.links(incident_id),
                {
                    **{name: read(self.store, incident) for name, read in INCIDENT_PANELS.items()},
                    **{k: v for part in self.settings.parts for k, v in part.incident_context(incident).items()},
                },
            )

        incident, timeline, changes, instances, related, panels = await run_in_threadpool(reads)
        return self.render(
            request,
            "incident.html",
            {
                "incident": incident,
                "panels": panels,
                "instances": instances,
                "related": related,
                "safe_href": safe_href,
                "timeline": timeline,
                "changes": changes,
                "change_window": self.settings.change_window,
                "older": before is not None,
                "links": self._links(incident),
                "actions": _actions(incident),
                "errors": errors or {},
                "values": values or {},
                "acked_for": incident.acknowledged_at - incident.opened_at if incident.acknowledged_at else None,
                "open_for": (incident.resolved_at or self.store.clock()) - incident.opened_at,
            },
            status,
        )

    def _links(self, incident: Incident) -> list[tuple[str, str]]:
        links: list[tuple[str, str]] = []
        runbook = safe_href(incident.runbook_url) or safe_href(incident.annotations.get("runbook_url"))
        if runbook:
            links.append(("Runbook", runbook))
        dashboard = safe_href(incident.annotations.get("dashboard"))
        if dashboard:
            links.append(("Dashboard", dashboard))
        trace = trace_href(self.settings.trace_url, incident.trace_id)
        if trace:
            links.append(("Trace", trace))
        return links

    def _not_found(self, request: Request, incident_id: int) -> Response:
        return self.problem(
            request,
            404,
            f"Incident {incident_id} does not exist",
            "It may have been archived (parapet archive moves resolved incidents past retention to a file).",
            links=[("Back to the queue", "/")],
        )

    async def retrospective_page(self, request: Request) -> Response:
        found = await self._retrospective_for(request)
        if isinstance(found, Response):
            return found
        incident, text = found
        return self.render(request, "retrospective.html", {"incident": incident, "markdown": text})

    async def retrospective_download(self, request: Request) -> Response:
        found = await self._retrospective_for(request)
        if isinstance(found, Response):
            return found
        incident, text = found
        return PlainTextResponse(
            text,
            media_type="text/markdown; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="incident-{incident.id}.md"'},
        )

    async def _retrospective_for(self, request: Request) -> Response | tuple[Incident, str]:
        """The signed-in user's incident and its retrospective, or the response that answers instead (sign-in, 404)."""
        user = await self.identify(request)
        if isinstance(user, Response):
            return user
        incident_id = int(request.path_params["incident_id"])
        try:
            found: tuple[Incident, str] = await run_in_threadpool(self._retrospective, incident_id)
        except IncidentNotFound:
            return self._not_found(request, incident_id)
        return found

    def _retrospective(self, incident_id: int) -> tuple[Incident, str]:
        incident = self.store.get(incident_id)
        entries = self.store.timeline(incident_id)
        changes = self.store.changes_before(incident, window=self.settings.change_window)
        return incident, retrospective.render(incident, entries, changes)

    # -- actions ----------------------------------------------------------------------------------

    async def transition(self, request: Request) -> Response:
        action = str(request.path_params["action"])
        if action not in TRANSITIONS:
            raise HTTPException(404)
        checked = await self.posted(request, action)
        if isinstance(checked, Response):
            return checked
        user, form = checked
        incident_id = int(request.path_params["incident_id"])
        version, seen = _int(form.get("expected_version")), _int(form.get("seen"))
        if version is None:
            return self.problem(request, 400, "The form is incomplete", "It carries no expected_version.")
        method, _, done = TRANSITIONS[action]
        command: Callable[..., Incident] = getattr(self.store, method)
        message = _text(form.get("message"))[:NOTE_MAX] or None
        try:
            await run_in_threadpool(command, incident_id, actor=user.name, expected_version=version, message=message)
        except IncidentNotFound:
            return self._not_found(request, incident_id)
        except (StaleVersion, IllegalTransition, ActiveIncidentExists) as exc:
            return await self._conflict(request, incident_id, action, seen, exc, {"message": message or ""})
        session_of(request)["flash"] = f"{done} incident {incident_id}."
        return RedirectResponse(f"{self.root(request)}/incidents/{incident_id}", status_code=303)

    async def note(self, request: Request) -> Response:
        checked = await self.posted(request, "note")
        if isinstance(checked, Response):
            return checked
        user, form = checked
        incident_id = int(request.path_params["incident_id"])
        version, seen = _int(form.get("expected_version")), _int(form.get("seen"))
        text = _text(form.get("text")).strip()
        if version is None:
            return self.problem(request, 400, "The form is incomplete", "It carries no expected_version.")
        error = None
        if not text:
            error = "Write the note before adding it."
        elif len(text) > NOTE_MAX:
            error = f"The note is {len(text):,} characters long; the limit is {NOTE_MAX:,}."
        if error:
            try:
                return await self._incident_page(
                    request, incident_id, status=400, errors={"text": error}, values={"text": text}
                )
            except IncidentNotFound:
                return self._not_found(request, incident_id)
        try:
            await run_in_threadpool(
                self.store.add_note, incident_id, actor=user.name, text=text, expected_version=version
            )
        except IncidentNotFound:
            return self._not_found(request, incident_id)
        except StaleVersion as exc:
            return await self._conflict(request, incident_id, "note", seen, exc, {"text": text})
        session_of(request)["flash"] = f"Note added to incident {incident_id}."
        return RedirectResponse(f"{self.root(request)}/incidents/{incident_id}", status_code=303)

    async def _conflict(
        self, request: Request, incident_id: int, action: str, seen: int | None, exc: Exception, values: dict[str, str]
    ) -> Response:
        """409: what changed since the form was rendered, and the form again at the current version."""
        try:
            incident = await run_in_threadpool(self.store.get, incident_id)
        except IncidentNotFound:
            return self._not_found(request, incident_id)
        changed: list[TimelineEntry] = []
        if seen is not None:
            changed = await run_in_threadpool(self.store.timeline_after, incident_id, seen)
        newest = changed[-1].id if changed else seen
        still = action == "note" or incident.state in TRANSITIONS[action][1]
        other = None
        if isinstance(exc, ActiveIncidentExists):
            other = await run_in_threadpool(self.store.active_for_key_of, incident_id)
        return self.render(
            request,
            "conflict.html",
            {
                "incident": incident,
                "action": action,
                "changed": changed,
                "still_possible": still,
                "newest": newest,
                "values": values,
                "reason": type(exc).__name__,
                "other": other,
            },
            409,
        )

    async def login_form(self, request: Request) -> Response:
        if self.auth.users_file is None:
            raise HTTPException(404)
        nxt = local_next(request.query_params.get("next"), self.root(request))
        return self.render(request, "login.html", {"next": nxt, "error": None, "name": ""})

    async def login(self, request: Request) -> Response:
        if self.auth.users_file is None:
            raise HTTPException(404)
        form = await read_form(request, self.settings.allowed_origins)
        if form is None:
            return self.problem(
                request,
                403,
                "This form was refused",
                "Reload the sign-in page and try again.",
                links=[("Sign in", "/login")],
            )
        name, password = _text(form.get("name")).strip(), _text(form.get("password"))
        nxt = local_next(_text(form.get("next")), self.root(request))
        user = None
        if name and password:
            # argon2 costs 64 MiB and most of a core per check: two at a time, the rest wait their turn
            user = await to_thread.run_sync(self.auth.users_file.verify, name, password, limiter=self.login_limiter)
        if user is None:
            context = {"next": nxt, "error": "Wrong user name or password.", "name": name}
            return self.render(request, "login.html", context, 401)
        session_of(request).clear()  # a new session: no fixation, a fresh CSRF token
        session_of(request)["user"] = user.name
        csrf_token(session_of(request))
        return RedirectResponse(nxt, status_code=303)

    async def logout(self, request: Request) -> Response:
        form = await read_form(request, self.settings.allowed_origins)
        if form is None:
            return self.problem(request, 403, "This form was refused", "Reload the page and try again.")
        session_of(request).clear()
        target = f"{self.root(request)}/login" if self.auth.users_file is not None else f"{self.root(request)}/"
        return RedirectResponse(target, status_code=303)

    # -- assembly ---------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        static = StaticFiles(packages=[("parapet.web", "static")])
        return [
            *(route for part in self.settings.parts for route in part.routes(self)),
            Route("/", self.queue, methods=["GET"], name="ui_queue"),
            Route("/incidents/{incident_id:int}", self.incident, methods=["GET"], name="ui_incident"),
            Route("/incidents/{incident_id:int}/notes", self.note, methods=["POST"], name="ui_note"),
            Route("/incidents/{incident_id:int}/retrospective", self.retrospective_page, methods=["GET"]),
            Route("/incidents/{incident_id:int}/retrospective.md", self.retrospective_download, methods=["GET"]),
            Route("/incidents/{incident_id:int}/{action:str}", self.transition, methods=["POST"]),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            *jobs.routes(self),
            Mount("/static", app=static, name="ui_static"),
        ]


def ui_middleware(settings: UIConfig) -> list[Middleware]:
    """The security headers and the signed session every UI page and form goes through."""
    return [
        Middleware(SecurityHeadersMiddleware),
        Middleware(SessionMiddleware, secret=settings.session_secret, https_only=settings.https_only),
    ]


def build_ui(settings: UIConfig) -> Starlette:
    """The UI as one ASGI app with its own session and security middleware: mount it at the prefix the
    webhook lives under (``create_app`` mounts it last, at ``""``)."""
    ui = UI(settings)
    middleware = ui_middleware(settings)

    async def store_unavailable(request: Request, exc: Exception) -> Response:
        response = ui.problem(
            request,
            503,
            "The incident store is not answering",
            "Parapet cannot reach its database right now. Nothing was changed; try again in a moment.",
        )
        response.headers["retry-after"] = "5"
        return response

    handlers = {HTTPException: _http_error, SQLAlchemyError: store_unavailable}
    return Starlette(routes=ui.routes(), middleware=middleware, exception_handlers=handlers)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "error"
    return PlainTextResponse(f"{status} {detail}\n", status_code=status)


def _needed(action: str) -> str:
    least = ACTIONS.get(action, Role.ADMIN)
    return "an admin" if least is Role.ADMIN else f"a {least.value} or admin"


def _actions(incident: Incident) -> list[str]:
    return [name for name, (_, states, _) in TRANSITIONS.items() if incident.state in states]


def _severity_class(rank: int) -> str:
    if rank >= 50:
        return "sev-crit"
    if rank >= 40:
        return "sev-high"
    return "sev-warn" if rank >= 30 else "sev-info"


def _query(values: dict[str, Any]) -> str:
    return urlencode({k: v for k, v in values.items() if v and not (k == "state" and v == "active")})


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else ""


def _int(value: object) -> int | None:
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def authenticator(settings: WebSettings) -> Authenticator:
    """Who the UI believes, from ``create_app``'s options, else the spec's ``ui:`` block."""
    extra, spec_ui = settings.extra, settings.spec.ui if settings.spec is not None else None
    users_file = extra.get("users_file") or (spec_ui.users_file if spec_ui else None)
    proxies = extra.get("trusted_proxies")
    if proxies is None and spec_ui is not None and spec_ui.proxy_networks:
        proxies = TrustedProxies.parse(
            spec_ui.proxy_networks,
            user_header=spec_ui.proxy_user_header,
            role_header=spec_ui.proxy_role_header,
            default_role=spec_ui.proxy_default_role,
        )
    return Authenticator(
        user_provider=settings.user_provider,
        users_file=UsersFile(Path(users_file)) if users_file else None,
        trusted_proxies=proxies,
        anonymous_role=Role.ADMIN if extra.get("insecure_local") else None,
        login_url=extra.get("login_url"),
    )


def routes(settings: WebSettings) -> Sequence[BaseRoute]:
    """The UI's route group for ``create_app``: one mount at ``""``, after the webhook and health routes."""
    return [Mount("", app=build_ui(ui_config(settings)))]


def ui_config(settings: WebSettings) -> UIConfig:
    """The UI's configuration from ``create_app``'s settings (a part's own routes build their UI from it too).

    Options come from ``create_app``'s keyword arguments (``settings.extra``), else the spec's ``ui:``:
    ``users_file`` (path), ``trusted_proxies`` (TrustedProxies), ``insecure_local`` (bool: everyone is a
    local admin, for ``parapet serve --insecure-local`` on 127.0.0.1 only), ``login_url`` (the host's
    sign-in page), ``session_secret``, ``allowed_origins``, ``https_only``, ``trace_url`` and ``title``."""
    extra = settings.extra
    spec_ui = settings.spec.ui if settings.spec is not None else None
    root = settings.spec.path.parent if settings.spec is not None else None
    return UIConfig(
        store=settings.store,
        auth=authenticator(settings),
        session_secret=session_secret(extra.get("session_secret"), root),
        templates_dir=host_templates_dir(settings.templates_dir, settings.spec.path if settings.spec else None),
        allowed_origins=tuple(extra.get("allowed_origins") or ()),
        https_only=extra.get("https_only"),
        trace_url=extra.get("trace_url") or (spec_ui.trace_url if spec_ui else None),
        change_window=settings.spec.changes.window if settings.spec is not None else timedelta(hours=1),
        title=extra.get("title") or "Parapet",
        parts=ui_parts(settings),
    )


def ui_parts(settings: WebSettings) -> list[UIPart]:
    """The UI's parts in their own modules, each built from the settings."""
    from parapet.web import runbooks

    return [runbooks.part(settings)]
