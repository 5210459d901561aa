"""Runbooks at run time: the catalog, one-click and automatic mitigations, the circuit breaker.

    catalog    the spec's runbooks and those declared in Python (``define``), callables imported and checked
    params     a mitigation's typed parameters (pydantic), secrets read at run time, masking
    executor   the callable in a child process with a hard timeout (why a process: see its docstring)
    runs       claim (parapet_action_claims) -> job "mitigation" -> tool audit + timeline, exactly once
    breaker    the circuit breaker, computed from parapet_tool_audits
    jobs       the job handler and the change-hook subscriber that starts automatic steps
    templates  ``{labels.x}``, ``{service}``, ``{incident}``… filled over an incident

See docs/runbooks.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["define"]


def __getattr__(name: str) -> Any:
    # lazily: the mitigation's child process (parapet.automation.child) must not pay for pydantic and SQLAlchemy
    if name == "define":
        from parapet.automation.catalog import define

        return define
    raise AttributeError(name)
