"""Cron jobs, journeys and build info: the parapet_* families of METRICS.md."""

from __future__ import annotations

import platform
import time

import pytest
from prometheus_client import CollectorRegistry

from parapet.metrics import LabelValueError, cron_job, declare_journeys, journey, record_job, set_build_info
from tests.metrics.scrape import assert_contract, scrape, series, total

JOB_COUNT = "parapet_job_duration_seconds_count"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def test_cron_decorator_records_outcomes_and_last_success(registry: CollectorRegistry) -> None:
    calls: list[int] = []

    @cron_job("nightly-report", registry=registry)
    def report(n: int) -> int:
        calls.append(n)
        if n < 0:
            raise ValueError("negative")
        return n * 2

    before = time.time()
    assert report(2) == 4
    with pytest.raises(ValueError, match="negative"):
        report(-1)
    with cron_job("cleanup", registry=registry) as run:
        run.skip()
    with pytest.raises(TimeoutError), cron_job("cleanup", registry=registry):
        raise TimeoutError("took too long")

    found = scrape(registry)
    assert_contract(found, ("parapet_job_duration_seconds", "parapet_job_last_success_timestamp_seconds"))
    outcomes = {(s["task"], s["outcome"]) for s in series(found, JOB_COUNT)}
    assert outcomes == {
        ("nightly-report", "success"),
        ("nightly-report", "failure"),
        ("cleanup", "skipped"),
        ("cleanup", "timeout"),
    }
    assert {s["framework"] for s in series(found, JOB_COUNT)} == {"cron"}
    last = total(found, "parapet_job_last_success_timestamp_seconds", task="nightly-report")
    assert before <= last <= time.time()
    assert total(found, "parapet_job_last_success_timestamp_seconds", task="cleanup") == 0
    assert calls == [2, -1]


def test_record_job_validates_closed_labels(registry: CollectorRegistry) -> None:
    record_job("rq", "send_email", "default", "success", 0.2, queue_wait=1.5, registry=registry)
    found = scrape(registry)
    assert_contract(found, ("parapet_job_queue_wait_seconds",))
    assert total(found, "parapet_job_queue_wait_seconds_sum", framework="rq", queue="default") == 1.5
    with pytest.raises(LabelValueError, match="label 'outcome' is closed and does not take 'exploded'"):
        record_job("rq", "send_email", "default", "exploded", 0.2, registry=registry)
    with pytest.raises(LabelValueError, match="label 'framework' is closed and does not take 'huey'"):
        record_job("huey", "send_email", "default", "success", 0.2, registry=registry)


def test_journeys_are_declared_and_bounded(registry: CollectorRegistry) -> None:
    with pytest.raises(LabelValueError, match=r"journey 'checkout' is not declared \(declared: none\)"):
        journey("checkout", registry=registry)
    assert declare_journeys("checkout", "login", registry=registry) == ("checkout", "login")
    assert declare_journeys("signup", registry=registry) == ("checkout", "login", "signup")
    with journey("checkout", registry=registry):
        pass
    with pytest.raises(KeyError), journey("checkout", registry=registry):
        raise KeyError("card declined")
    with journey("login", registry=registry) as run:
        run.fail()
        run.succeed()  # a run records once
    with pytest.raises(
        LabelValueError, match=r"journey 'search' is not declared \(declared: checkout, login, signup\)"
    ):
        journey("search", registry=registry)
    found = scrape(registry)
    assert_contract(found, ("parapet_journey_events",))
    assert total(found, "parapet_journey_events_total", journey="checkout", outcome="success") == 1
    assert total(found, "parapet_journey_events_total", journey="checkout", outcome="failure") == 1
    assert total(found, "parapet_journey_events_total", journey="login", outcome="failure") == 1
    assert total(found, "parapet_journey_events_total", journey="login", outcome="success") == 0
    with pytest.raises(ValueError, match="declare at least one journey name"):
        declare_journeys(registry=registry)
    with pytest.raises(ValueError, match="non-empty string"):
        declare_journeys("", registry=registry)


def test_build_info_marks_the_running_version(registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARAPET_BUILD_VERSION", "2024.06.1+g1a2b3c")
    assert set_build_info(registry=registry) == "2024.06.1+g1a2b3c"
    found = scrape(registry)
    assert_contract(found, ("parapet_build_info",))
    assert series(found, "parapet_build_info") == [
        {"version": "2024.06.1+g1a2b3c", "python_version": platform.python_version()}
    ]
    assert total(found, "parapet_build_info") == 1
    other = CollectorRegistry()
    monkeypatch.delenv("PARAPET_BUILD_VERSION")
    for name in ("APP_VERSION", "GIT_SHA", "SOURCE_VERSION"):
        monkeypatch.delenv(name, raising=False)
    assert set_build_info(registry=other) == "unknown"
    assert set_build_info("1.4.0", registry=other) == "1.4.0"
