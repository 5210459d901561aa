"""Run a mitigation's callable with a hard timeout, in a child process.

Why a subprocess and not a thread: a thread cannot be stopped. An abandoned thread whose mitigation hangs
keeps running inside the worker, holding whatever it holds (a connection, a lock, a socket to the provider
being restarted), and may still take effect minutes after the run was recorded as timed out, which is the
one thing an operator must be able to rely on not happening. A child process in its own session is killed
(SIGKILL to its process group) at the timeout, so "timed out" means "stopped". The cost is a fresh
interpreter per run (about 50 ms plus the import of the host's module), small beside what a mitigation does,
and the parameters and result cross as JSON. Forking the worker instead would be faster but unsafe: it runs
threads (the poller, the web server) and holds pooled database connections.

The child is ``python -m parapet.automation.child`` with the parent's ``sys.path``; the call (callable,
parameters, secrets) goes in on stdin (never argv or the environment, which other users of the machine can
read), the result comes back on stdout as one JSON object; whatever the callable prints goes to stderr and is
kept (bounded, secrets masked) as the run's output.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from parapet.automation.params import mask

SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
TIMED_OUT: Final = "timed_out"
OUTPUT_LIMIT: Final = 4_000


@dataclass(frozen=True)
class Outcome:
    outcome: str  # succeeded, failed or timed_out
    result: Any = None
    error: str | None = None
    output: str = ""
    duration_s: float = 0.0


def run(
    python: str,
    params: Mapping[str, Any],
    *,
    timeout_s: float,
    secrets: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> Outcome:
    """Call ``python`` (``package.module:function``) with ``params`` and ``secrets`` as keyword arguments."""
    secret_values = list((secrets or {}).values())
    request = json.dumps({"python": python, "params": {**params, **(secrets or {})}})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "parapet.automation.child"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(request.encode(), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill(proc)
        out, err = proc.communicate()
        return Outcome(
            TIMED_OUT,
            error=f"did not finish within {timeout_s:g} s: stopped",
            output=_bounded(mask(err.decode(errors="replace"), secret_values)),
            duration_s=time.monotonic() - started,
        )
    duration = time.monotonic() - started
    output = _bounded(mask(err.decode(errors="replace"), secret_values))
    try:
        answer = json.loads(out.decode(errors="replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        answer = {"ok": False, "error": f"the mitigation process exited with status {proc.returncode}"}
    if answer.get("ok"):
        result = json.loads(mask(json.dumps(answer.get("result")), secret_values) or "null")
        return Outcome(SUCCEEDED, result=result, output=output, duration_s=duration)
    error = mask(str(answer.get("error") or "failed"), secret_values)
    return Outcome(FAILED, error=error, output=output, duration_s=duration)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole session: a child the mitigation started goes too
        os.killpg(proc.pid, signal.SIGKILL)


def _bounded(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= OUTPUT_LIMIT else "…" + text[-OUTPUT_LIMIT:]
