"""The incident page's escalation panel and its "Escalate now" form.

    panel (partials/escalation.html)          the chain (policy, tiers, targets, working hours), the current
                                              tier, when the next step fires, and an overdue flag: the next
                                              step was due more than ``escalation.overdue_after`` ago and has
                                              not run (no worker is running, or it is far behind)
    POST /incidents/{id}/escalate             responder; CSRF and origin checked as every UI form; the form
                                              carries the epoch it was rendered at, so a second click (or a
                                              click after someone acknowledged) changes nothing and says why

The route sits before the UI's mount (``create_app``'s route groups, in order) and goes through the same
session and security middleware, so sign-in, CSRF tokens and flash messages are the UI's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from parapet.escalation import EscalationError, StaleEscalation, Status, escalate_now, status
from parapet.evidence.store import Incident, Store
from parapet.web import ui
from parapet.web.app import WebSettings
from parapet.web.security import session_of

PANEL: Final = "escalation"
REASON_MAX: Final = 500


def read_panel(store: Store, incident: Incident) -> Status | None:
    """The incident's escalation as the panel shows it (None: no policy matched it)."""
    with store.engine.connect() as conn:
        return status(conn, incident.id, now=store.clock())


class EscalateNow:
    def __init__(self, view: ui.UI) -> None:
        self.view = view
        self.store = view.store

    async def post(self, request: Request) -> Response:
        checked = await self.view.posted(request, "escalate")
        if isinstance(checked, Response):
            return checked
        user, form = checked
        incident_id = int(request.path_params["incident_id"])
        seen = form.get("epoch")
        reason = (form.get("reason") if isinstance(form.get("reason"), str) else "") or ""
        reason = str(reason).strip()[:REASON_MAX] or "escalated from the incident page"
        epoch = int(seen) if isinstance(seen, str) and seen.isdigit() else None
        try:
            tier: int | None = await run_in_threadpool(self._escalate, incident_id, user.name, reason, epoch)
        except StaleEscalation:
            tier = None
        except EscalationError as exc:
            return self.view.problem(request, 409, "Not escalated", f"{exc.message}. Nothing was changed.")
        except SQLAlchemyError:
            return self.view.problem(
                request, 503, "The incident store is not answering", "Nothing was changed; try again in a moment."
            )
        flash = (
            f"Escalated incident {incident_id} to tier {tier}."
            if tier is not None
            else f"Incident {incident_id} was not escalated: its escalation changed since the page was loaded "
            "(someone escalated or acknowledged it). Look again before escalating."
        )
        session_of(request)["flash"] = flash
        return RedirectResponse(f"{self.view.root(request)}/incidents/{incident_id}", status_code=303)

    def _escalate(self, incident_id: int, actor: str, reason: str, epoch: int | None) -> int:
        with self.store.engine.begin() as conn:
            return escalate_now(
                conn, incident_id, actor=actor, reason=reason, now=self.store.clock(), expected_epoch=epoch
            )


def routes(settings: WebSettings) -> Sequence[BaseRoute]:
    """The escalation route group: registers the panel and answers the form (before the UI's mount)."""
    ui.INCIDENT_PANELS[PANEL] = read_panel
    config = ui.ui_config(settings)
    view = ui.UI(config)
    app = Starlette(
        routes=[Route("/incidents/{incident_id:int}/escalate", EscalateNow(view).post, methods=["POST"])],
        middleware=ui.ui_middleware(config),
    )
    return [Route("/incidents/{incident_id:int}/escalate", app, methods=["POST"])]
