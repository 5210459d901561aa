"""The modules that define job handlers: a worker imports them all before it polls, so any process runs any
kind. A part that adds a job kind adds its module here (its import must stay cheap and side-effect free apart
from registering handlers and periodics)."""

from __future__ import annotations

import importlib
import logging
from typing import Final

log = logging.getLogger("parapet.work")

MODULES: Final[tuple[str, ...]] = ("parapet.alerts.worker",)


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
