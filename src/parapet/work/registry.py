"""The modules that define job handlers: a worker imports them all before it polls, so any process runs any
kind. A part that adds a job kind adds its module here (its import must stay cheap and side-effect free apart
from registering handlers and periodics)."""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from parapet.spec.model import Spec

log = logging.getLogger("parapet.work")

MODULES: Final[tuple[str, ...]] = (
    "parapet.alerts.worker",
    "parapet.audit.outbox",
    "parapet.notify.outbox",
    "parapet.probes.jobs",
    "parapet.alerts.trace_jobs",
    "parapet.escalation.steps",
    "parapet.automation.jobs",
)
# The modules whose ``install(spec)`` subscribes this process to the incident hooks (parapet.evidence.hooks) with
# the spec's settings: every process that writes incidents (``create_app``, the worker) installs them all, so what
# it writes enqueues their jobs in the same transaction. A part with a subscriber adds its module here; so does a
# part whose periodics come from the spec (parapet.probes.jobs: one per probe).
SUBSCRIBERS: Final[tuple[str, ...]] = (
    "parapet.audit.outbox",
    "parapet.notify.outbox",
    "parapet.probes.jobs",
    "parapet.alerts.trace_jobs",
    "parapet.escalation",
    "parapet.automation.jobs",
)


def load(modules: tuple[str, ...] = MODULES) -> list[str]:
    """Import the handler modules; returns those that could not be imported (an optional extra missing), which
    are logged: their jobs wait for a process that has them."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            log.warning("job handlers of %s are not available here: %s", name, exc)
            missing.append(name)
    return missing


def install_subscribers(spec: Spec | None, modules: tuple[str, ...] = SUBSCRIBERS) -> None:
    """Call every subscriber module's ``install(spec)`` (idempotent; a module whose part the spec does not
    configure unsubscribes)."""
    for name in modules:
        importlib.import_module(name).install(spec)
