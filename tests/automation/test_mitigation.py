"""Mitigations executed by the real work engine on SQLite and PostgreSQL: one run per claim, a hang stopped at
its timeout without holding up the worker, an exception recorded with its error, and secret parameters nowhere:
not in the database, the logs, the archive or the pages."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from starlette.testclient import TestClient

from parapet.automation import jobs as automation_jobs
from parapet.automation.catalog import Catalog
from parapet.automation.runs import request
from parapet.evidence.archive import ArchiveOptions, run_archive
from parapet.evidence.schema import action_claims, jobs, metadata
from parapet.evidence.store import Store
from parapet.web import create_app
from parapet.work import Worker
from tests.automation.conftest import SECRET_VALUE, Host, stalled
from tests.web.helpers import Clock

pytestmark = pytest.mark.usefixtures("host")


def _catalog(host: Host) -> tuple[Catalog, object]:
    spec = host.spec()
    return automation_jobs.catalog_for(spec), spec


def _request(store: Store, host: Host, incident_id: int, step: str, actor: str = "rita", **given: str) -> int:
    catalog, _ = _catalog(host)
    found = catalog.step("payments", step)
    assert found is not None
    done = request(store.engine, incident_id, found[0], found[1], actor=actor, given=given, now=store.clock())
    return done.claim.id


def _worker(store: Store, host: Host, **options: object) -> Worker:
    return Worker(store.engine, settings=host.spec(), clock=store.clock, **options)  # type: ignore[arg-type]


def test_a_run_is_claimed_once_executed_once_and_audited_once(store: Store, host: Host) -> None:
    incident = store.open_or_touch(stalled()).incident
    first = _request(store, host, incident.id, "restart-workers", count="3")
    again = _request(store, host, incident.id, "restart-workers", actor="adam", count="3")
    assert again == first  # the same idempotency key ({incident}): the second click joins the first run
    _worker(store, host).run_once()
    _worker(store, host).run_once()
    assert host.executions() == ["restart payments 3"]
    [audit] = store.tool_audits(incident.id)
    assert (audit.tool, audit.actor, audit.outcome) == ("payments/restart-workers", "rita", "succeeded")
    assert audit.parameters == {"queue": "payments", "count": 3, "token": "***"}
    kinds = [e.kind for e in store.timeline(incident.id)]
    assert kinds == ["opened", "mitigation_requested", "mitigation_started", "mitigation_succeeded"]
    with store.engine.connect() as conn:
        assert conn.execute(select(action_claims.c.status)).scalars().all() == ["succeeded"]


def test_a_hang_is_stopped_at_its_timeout_and_does_not_block_the_worker(store: Store, host: Host) -> None:
    incident = store.open_or_touch(stalled()).incident
    _request(store, host, incident.id, "hang")
    worker = _worker(store, host, poll=0.05, concurrency=2)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        deadline = time.monotonic() + 90  # generous: a child interpreter starts slowly on a loaded machine
        while "mitigation_started" not in [e.kind for e in store.timeline(incident.id)] and time.monotonic() < deadline:
            time.sleep(0.05)
        _request(store, host, incident.id, "quick")  # asked while the hang holds a handler thread
        while len(store.tool_audits(incident.id)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.wake()
        thread.join(timeout=30)
    outcomes = {a.tool: a for a in store.tool_audits(incident.id)}
    with store.engine.connect() as conn:
        state = conn.execute(select(jobs.c.key, jobs.c.state, jobs.c.attempts, jobs.c.last_error)).all()
    assert "payments/quick" in outcomes, (state, host.executions(), [e.kind for e in store.timeline(incident.id)])
    assert outcomes["payments/quick"].outcome == "succeeded"
    hung = outcomes["payments/hang"]
    assert hung.outcome == "timed_out"
    assert hung.error == "did not finish within 8 s: stopped"
    entries = store.timeline(incident.id)
    quick_started = next(e.id for e in entries if e.kind == "mitigation_started" and e.data["step"] == "quick")
    hang_ended = next(e.id for e in entries if e.kind == "mitigation_timed_out")
    assert quick_started < hang_ended, "the quick run waited for the hanging one"
    assert time.monotonic() - started < 60  # the hang (30 s asked) was stopped at 8 s, not waited for
    assert host.executions().count("hang") == 1 and host.executions().count("quick") == 1


def test_an_exception_is_recorded_with_its_error_and_secrets_appear_nowhere(
    store: Store, host: Host, engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture, clock: Clock
) -> None:
    caplog.set_level(logging.DEBUG)
    incident = store.open_or_touch(stalled()).incident
    _request(store, host, incident.id, "boom")
    _request(store, host, incident.id, "restart-workers")
    _worker(store, host).run_once()
    audits = {a.tool: a for a in store.tool_audits(incident.id)}
    failed = audits["payments/boom"]
    assert failed.outcome == "failed"
    assert failed.error == "RuntimeError: the provider refused token ***"
    assert audits["payments/restart-workers"].outcome == "succeeded"
    failed_entry = next(e for e in store.timeline(incident.id) if e.kind == "mitigation_failed")
    assert "calling the provider with ***" in failed_entry.data["output"]

    # the pages: incident, run pages, confirm page
    app = create_app(spec_path=host.spec_path, store=store, insecure_local=True, session_secret="s" * 40)
    pages = []
    with TestClient(app) as client:
        pages.append(client.get(f"/incidents/{incident.id}").text)
        with store.engine.connect() as conn:
            claim_ids = conn.execute(select(action_claims.c.id)).scalars().all()
        pages += [client.get(f"/incidents/{incident.id}/mitigations/{c}").text for c in claim_ids]
        pages.append(client.get(f"/incidents/{incident.id}/runbooks/payments/boom/run").text)
    assert all("***" in p or "token" in p for p in pages[1:2])
    # the database: every row of every table, as text
    dump = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            dump += [repr(tuple(r)) for r in conn.execute(select(table)).all()]
    # the archive of the resolved incident
    store.resolve(incident.id, actor="rita")
    out = tmp_path / "archive.jsonl"
    result = run_archive(
        engine,
        ArchiveOptions(older_than=timedelta(days=90), archive_file=out),
        clock=lambda: clock.at + timedelta(days=400),
    )
    assert result.archived == 1
    text_everywhere = "\n".join([*pages, *dump, out.read_text(), caplog.text])
    assert SECRET_VALUE not in text_everywhere
    assert "the provider refused token ***" in text_everywhere  # the error is there, masked


def test_manual_runs_never_trip_the_breaker(store: Store, host: Host) -> None:
    # four runs by hand for the same target: the breaker stops automatic runs only
    catalog, _ = _catalog(host)
    rb, step = catalog.step("payments", "restart-workers")  # type: ignore[misc]
    for queue in ("a", "b", "c", "d"):
        incident = store.open_or_touch(stalled(queue)).incident
        request(store.engine, incident.id, rb, step, actor="rita", given={}, now=store.clock())
    with store.engine.connect() as conn:
        assert conn.execute(select(text("count(*)")).select_from(jobs)).scalar() == 4
    _worker(store, host).run_once()
    assert len(host.executions()) == 4  # manual runs never trip it (only automatic runs are stopped)
