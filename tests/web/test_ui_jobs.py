"""The work engine's admin page on SQLite and PostgreSQL: dead jobs listed with their redacted error, a Retry
form (admin only, CSRF) that makes the job pending again; viewers and responders are refused."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from starlette.testclient import TestClient

from parapet.evidence import Store
from parapet.evidence.schema import jobs
from parapet.work import JobContext, Worker, enqueue, handler
from tests.web.helpers import HOSTILE, Clock, form_fields
from tests.web.test_ui_forms import ROOT, login


@handler("t_ui_fails")
def always_fails(ctx: JobContext) -> None:
    raise RuntimeError(f"POST https://hooks.example/x?sig=s3cr3t refused {HOSTILE}")


def _dead_job(store: Store, clock: Clock) -> int:
    with store.engine.begin() as conn:
        enqueue(conn, "t_ui_fails", "incident:7", due_at=clock(), max_attempts=1, now=clock())
    worker = Worker(store.engine, worker_id="w1", clock=clock, kinds=["t_ui_fails"])
    assert [o.outcome for o in worker.run_once()] == ["dead"]
    worker.close()
    with store.engine.connect() as conn:
        return int(conn.execute(select(jobs.c.id).where(jobs.c.kind == "t_ui_fails")).scalar_one())


def test_admins_see_dead_jobs_and_retry_them(client: TestClient, store: Store, clock: Clock) -> None:
    job_id = _dead_job(store, clock)
    login(client, "adam")
    page = client.get(f"{ROOT}/admin/jobs")
    assert page.status_code == 200
    assert "t_ui_fails" in page.text and "incident:7" in page.text and "1 of 1 attempts" in page.text
    assert "sig=***" in page.text and "s3cr3t" not in page.text
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
    fields = form_fields(page.text, "/admin/jobs/retry")
    assert fields["job_id"] == str(job_id)
    refused = client.post(f"{ROOT}/admin/jobs/retry", data={"job_id": str(job_id)}, follow_redirects=False)
    assert refused.status_code == 403  # no CSRF token
    done = client.post(f"{ROOT}/admin/jobs/retry", data=fields, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"{ROOT}/admin/jobs"
    after = client.get(f"{ROOT}/admin/jobs")
    assert f"Job {job_id} is pending again (retried by adam)." in after.text
    assert "No dead jobs" in after.text
    with store.engine.connect() as conn:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).one()
    assert (row.state, row.attempts, row.due_at) == ("pending", 0, clock())
    again = client.post(f"{ROOT}/admin/jobs/retry", data=fields, follow_redirects=False)
    assert again.status_code == 303
    assert "is not dead any more" in client.get(f"{ROOT}/admin/jobs").text


def test_responders_and_viewers_cannot_see_or_retry(client: TestClient, store: Store, clock: Clock) -> None:
    job_id = _dead_job(store, clock)
    clock.at += timedelta(seconds=1)
    login(client, "rita")
    assert client.get(f"{ROOT}/admin/jobs").status_code == 403
    home = client.get(f"{ROOT}/")
    fields = {"csrf_token": form_fields(home.text, "/logout")["csrf_token"], "job_id": str(job_id)}
    refused = client.post(f"{ROOT}/admin/jobs/retry", data=fields, follow_redirects=False)
    assert refused.status_code == 403 and "Nothing was changed" in refused.text
    with store.engine.connect() as conn:
        assert conn.execute(select(jobs.c.state).where(jobs.c.id == job_id)).scalar_one() == "dead"
