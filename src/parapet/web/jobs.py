"""The work engine's admin page: dead jobs, and a button that makes them pending again.

    GET  /admin/jobs          admin: how many jobs each state holds; the dead jobs, newest first (kind, key,
                              attempts, last error as stored: redacted), each with a Retry button
    POST /admin/jobs/retry    admin, CSRF: the posted dead job (``job_id``) becomes pending, due now, attempts 0

A dead job is work the engine gave up on after its attempts (a notifier refusing, a runbook step failing); it
stays until an operator who fixed the cause retries it here. ``parapet doctor`` (PAR304) warns about them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from parapet.web.security import session_of
from parapet.work.jobs import DeadJob, count_jobs, dead_jobs, revive

if TYPE_CHECKING:
    from parapet.web.ui import UI

VIEW: Final = "view_jobs"
RETRY: Final = "retry_jobs"
LISTED: Final = 200


def routes(ui: UI) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        user = await ui.identify(request)
        if isinstance(user, Response):
            return user
        if not user.can(VIEW):
            return _admins_only(ui, request, user.name, user.role.value)

        def reads() -> tuple[dict[str, int], list[DeadJob]]:
            return count_jobs(ui.store.engine), dead_jobs(ui.store.engine, limit=LISTED)

        counts, dead = await run_in_threadpool(reads)
        return ui.render(request, "parapet/jobs.html", {"counts": counts, "dead": dead, "listed": LISTED})

    async def retry(request: Request) -> Response:
        checked = await ui.posted(request, RETRY)
        if isinstance(checked, Response):
            return checked
        user, form = checked
        raw = form.get("job_id")
        job_id = int(raw) if isinstance(raw, str) and raw.isdigit() else None
        if job_id is None:
            return ui.problem(
                request, 400, "The form is incomplete", "It names no job.", links=[("Jobs", "/admin/jobs")]
            )

        def apply() -> int:
            with ui.store.engine.begin() as conn:
                return revive(conn, [job_id], now=ui.store.clock())

        revived = await run_in_threadpool(apply)
        flash = (
            f"Job {job_id} is pending again (retried by {user.name})."
            if revived
            else f"Job {job_id} is not dead any more (retried meanwhile, or pruned): nothing changed."
        )
        session_of(request)["flash"] = flash
        return RedirectResponse(f"{ui.root(request)}/admin/jobs", status_code=303)

    return [
        Route("/admin/jobs", page, methods=["GET"], name="ui_jobs"),
        Route("/admin/jobs/retry", retry, methods=["POST"], name="ui_jobs_retry"),
    ]


def _admins_only(ui: UI, request: Request, name: str, role: str) -> Response:
    return ui.problem(
        request,
        403,
        "Not allowed",
        f"You are signed in as {name} ({role}); the work engine's jobs are for the admin role.",
        links=[("Back to the queue", "/")],
    )
