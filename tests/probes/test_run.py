"""One probe run: HTTP checks against a real local server and Python callables, each outcome, and the timeout
that cuts a run that hangs; the results land in the metric contract."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry

from parapet.probes import ProbeResult, run_probe
from parapet.spec.model import HttpCheck, Probe
from tests.metrics.scrape import assert_contract, scrape
from tests.probes.targets import target


def _http(name: str, url: str, timeout: float = 2.0, **check: object) -> Probe:
    return Probe(name, every=timedelta(seconds=10), timeout=timedelta(seconds=timeout), http=HttpCheck(url, **check))  # type: ignore[arg-type]


def _call(name: str, fn: str, timeout: float = 1.0) -> Probe:
    return Probe(
        name, every=timedelta(seconds=10), timeout=timedelta(seconds=timeout), call=f"tests.probes.targets:{fn}"
    )


@pytest.mark.parametrize(
    ("path", "check", "outcome", "detail"),
    [
        ("/", {"expect_body": "ok"}, "success", "status 200"),
        ("/broken", {}, "failure", "status 500, expected 200"),
        ("/broken", {"expect_status": (500,)}, "success", "status 500"),
        ("/other", {"expect_body": "ok"}, "failure", "does not contain"),
    ],
)
def test_http_check_outcomes(path: str, check: dict[str, object], outcome: str, detail: str) -> None:
    registry = CollectorRegistry()
    with target() as (base, hits):
        result = run_probe(_http("home", base + path, **check), registry=registry)
    assert (result.outcome, len(hits)) == (outcome, 1) and detail in result.detail, result


def test_an_http_check_that_hangs_is_cut_by_its_timeout() -> None:
    with target() as (base, _hits):
        started = time.monotonic()
        result = run_probe(_http("slow", base + "/slow", timeout=1.0), registry=CollectorRegistry())
        took = time.monotonic() - started
    assert result.outcome == "timeout" and 0.9 < took < 2.5, (result, took)


def test_nothing_listening_is_an_error() -> None:
    with target() as (base, _hits):
        pass  # the port is closed again
    result = run_probe(_http("gone", base + "/"), registry=CollectorRegistry())
    assert result.outcome == "error" and "refused" in result.detail.lower(), result


@pytest.mark.parametrize(
    ("fn", "outcome", "detail"),
    [
        ("passes", "success", "returned"),
        ("says_no", "failure", "returned False"),
        ("asserts", "failure", "the basket is empty"),
        ("raises", "error", "ConnectionRefusedError: staging is down"),
        ("nowhere", "error", "AttributeError"),
    ],
)
def test_callable_outcomes(fn: str, outcome: str, detail: str) -> None:
    result = run_probe(_call("journey", fn), registry=CollectorRegistry())
    assert result.outcome == outcome and detail in result.detail, result


def test_a_callable_that_hangs_is_cut_and_not_stacked() -> None:
    registry = CollectorRegistry()
    probe = _call("hung", "hangs", timeout=0.5)
    started = time.monotonic()
    first = run_probe(probe, registry=registry)
    assert first.outcome == "timeout" and time.monotonic() - started < 1.5
    second = run_probe(probe, registry=registry)  # the first is still sleeping: no second thread
    assert second.outcome == "error" and "has not returned" in second.detail
    time.sleep(3)
    assert run_probe(_call("hung", "passes"), registry=registry).outcome == "success"


def test_a_coroutine_that_hangs_is_cancelled_at_its_timeout() -> None:
    started = time.monotonic()
    result = run_probe(_call("async", "hangs_async", timeout=0.5), registry=CollectorRegistry())
    assert result.outcome == "timeout" and time.monotonic() - started < 1.5, result


def test_results_are_metrics_of_the_contract() -> None:
    registry = CollectorRegistry()
    with target() as (base, _hits):
        for path in ("/", "/", "/broken"):
            run_probe(_http("home", base + path), registry=registry)
    families = scrape(registry)
    assert_contract(families, ("parapet_probe_duration_seconds", "parapet_probe_success"))
    counts = {
        (s.labels["probe"], s.labels["outcome"]): s.value
        for s in families["parapet_probe_duration_seconds"].samples
        if s.name.endswith("_count")
    }
    assert counts == {("home", "success"): 2.0, ("home", "failure"): 1.0}
    assert [s.value for s in families["parapet_probe_success"].samples] == [0.0]


def test_a_result_is_json_for_the_job() -> None:
    assert ProbeResult("a", "success", 0.1234567, "ok").as_dict() == {
        "probe": "a", "outcome": "success", "seconds": 0.123457, "detail": "ok"
    }  # fmt: skip
