"""Synthetic probes: the spec's HTTP checks and Python callables, run by the work engine, results as metrics.

    probes:
      - {name: home, every: 30s, timeout: 5s, http: {url: https://shop.example/healthz, expect_body: ok}}
      - {name: checkout, every: 5m, timeout: 60s, call: shop.probes:checkout}

Scheduling: ``schedule(spec)`` registers one ``periodic`` per probe (name ``probe:<name>``, job kind ``probe``)
in every process that loads the spec, so each slot of ``every`` is one job, unique on (kind, key) in the store:
however many processes and nodes run workers, a slot runs once (if the process running it dies mid-run, the
job's lease expires and another process runs it again: at least once, exactly once when nothing crashes).

A run: ``run_probe`` checks the HTTP answer (status among ``expect_status``, ``expect_body`` in the body) or
calls the function (raising or returning ``False`` fails it; a coroutine function is awaited), bounded by
``timeout``: the check runs in a thread the run stops waiting for at the timeout. An HTTP check's sockets time
out too, so its thread ends; a coroutine is cancelled; a plain function cannot be interrupted in Python, so
it is left to finish on its own and, while it has not, the probe's next runs report ``error`` rather than
stacking threads up.

Outcomes (the closed set of the ``outcome`` label): ``success``; ``failure`` (the answer was wrong, the function
returned False or raised AssertionError); ``timeout``; ``error`` (could not run: connection refused, DNS, the
function raised anything else, the previous run still hangs). Each run observes
``parapet_probe_duration_seconds{probe, outcome}`` and sets ``parapet_probe_success{probe}`` in the registry of
the process that ran it (``/parapet/metrics`` of ``parapet serve``, or the host's ``/metrics``), and the job's
result keeps the outcome, duration and a short detail.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from prometheus_client import CollectorRegistry

from parapet.metrics.contract import contract
from parapet.spec.model import HttpCheck, Probe, Spec

PROBE_JOB: Final = "probe"  # the job kind every probe's slots run as
PERIODIC_PREFIX: Final = "probe:"
SUCCESS, FAILURE, TIMEOUT, ERROR = "success", "failure", "timeout", "error"
MAX_BODY: Final = 1024 * 1024  # read at most this much of an answer to look for expect_body
MAX_DETAIL: Final = 300
USER_AGENT: Final = "parapet-probe"


@dataclass(frozen=True)
class ProbeResult:
    probe: str
    outcome: str
    seconds: float
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"probe": self.probe, "outcome": self.outcome, "seconds": round(self.seconds, 6), "detail": self.detail}


class _Failed(Exception):
    """The check ran and its answer was wrong."""


_hung_lock = threading.Lock()
_hung: dict[str, threading.Thread] = {}  # probe name -> the thread of a run that outlived its timeout


def _http(check: HttpCheck, timeout: float) -> str:
    data = check.body.encode("utf-8") if check.body is not None else None
    request = urllib.request.Request(check.url, data=data, method=check.method, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, body = answer.status, answer.read(MAX_BODY)
    except urllib.error.HTTPError as exc:  # a 4xx/5xx answer is an answer: compare it with expect_status
        status, body = exc.code, exc.read(MAX_BODY) if exc.fp is not None else b""
    if status not in check.expect_status:
        raise _Failed(f"status {status}, expected {' or '.join(str(s) for s in check.expect_status)}")
    if check.expect_body is not None and check.expect_body not in body.decode("utf-8", "replace"):
        raise _Failed(f"status {status}, but the body does not contain the expected text")
    return f"status {status}"


def resolve(target: str) -> Callable[[], Any]:
    """``package.module:function`` -> the function (ImportError / AttributeError when it is not there)."""
    module_name, _, attr = target.partition(":")
    fn = getattr(importlib.import_module(module_name), attr)
    if not callable(fn):
        raise TypeError(f"{target} is not callable")
    return fn  # type: ignore[no-any-return]


def _call(target: str, timeout: float) -> str:
    fn = resolve(target)
    result = asyncio.run(asyncio.wait_for(fn(), timeout)) if inspect.iscoroutinefunction(fn) else fn()
    if result is False:
        raise _Failed(f"{target} returned False")
    return f"{target} returned"


def run_probe(probe: Probe, *, registry: CollectorRegistry | None = None) -> ProbeResult:
    """Run the probe once within its timeout and record the outcome in the metric contract."""
    timeout = probe.timeout.total_seconds()
    outcome, detail = ERROR, ""
    box: dict[str, Any] = {}

    def check() -> None:
        try:
            if probe.http is not None:
                box["detail"] = _http(probe.http, timeout)
            else:
                assert probe.call is not None
                box["detail"] = _call(probe.call, timeout)
            box["outcome"] = SUCCESS
        except (_Failed, AssertionError) as exc:
            box["outcome"], box["detail"] = FAILURE, str(exc) or type(exc).__name__
        except TimeoutError:
            box["outcome"], box["detail"] = TIMEOUT, f"no answer within {timeout:g}s"
        except Exception as exc:  # the probe's own failure, reported as its outcome
            reason = getattr(exc, "reason", None)
            box["outcome"] = TIMEOUT if isinstance(reason, TimeoutError) else ERROR
            box["detail"] = f"{type(exc).__name__}: {reason if reason is not None else exc}"

    start = time.monotonic()
    with _hung_lock:
        previous = _hung.get(probe.name)
        busy = previous is not None and previous.is_alive()
    if busy:
        outcome, detail = ERROR, f"the previous run has not returned (over {timeout:g}s)"
    else:
        worker = threading.Thread(target=check, name=f"parapet-probe-{probe.name}", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            outcome, detail = TIMEOUT, f"cut at the {timeout:g}s timeout"
            with _hung_lock:
                _hung[probe.name] = worker
        else:
            outcome, detail = box.get("outcome", ERROR), str(box.get("detail", ""))
    seconds = time.monotonic() - start
    families = contract(registry)
    families.probe_duration.child((probe.name, outcome)).observe(seconds)
    families.probe_success.child((probe.name,)).set(1.0 if outcome == SUCCESS else 0.0)
    return ProbeResult(probe.name, outcome, seconds, " ".join(detail.split())[:MAX_DETAIL])


def probe_named(spec: Spec | None, name: str) -> Probe | None:
    for probe in spec.probes if spec is not None else ():
        if probe.name == name:
            return probe
    return None
