"""User journeys: declared names only, recorded as success or failure in ``parapet_journey_events_total``.

    declare_journeys("checkout", "login")        # at start-up, the names the spec's journey SLIs use
    declare_journeys_from_spec("parapet.yaml")   # or read those names from the spec itself

    with journey("checkout") as j:               # success unless the block raises
        if not charge(card):
            j.fail()                             # or record a failure without raising

A journey that was not declared is refused (LabelValueError), so the label stays bounded.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from prometheus_client import CollectorRegistry

from parapet.conventions import JOURNEY_EVENTS, LABEL_JOURNEY
from parapet.metrics.contract import contract
from parapet.metrics.errors import LabelValueError
from parapet.metrics.labels import Label, check_definition


def declare_journeys(*names: str, registry: CollectorRegistry | None = None) -> tuple[str, ...]:
    """Declare journey names (repeatable); returns every name declared so far."""
    if not names:
        raise ValueError("declare at least one journey name")
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a journey name must be a non-empty string, not {name!r}")
    check_definition(JOURNEY_EVENTS, "counter", (Label(LABEL_JOURNEY, values=names),))
    family = contract(registry).journey_events(tuple(names))
    allowed = family.allowed(LABEL_JOURNEY) or frozenset()
    return tuple(sorted(allowed))


def declare_journeys_from_spec(
    path: Path | str = "parapet.yaml", *, registry: CollectorRegistry | None = None
) -> tuple[str, ...]:
    """Declare the journeys the spec's journey SLIs name; returns every name declared so far.

    The spec is read with ``parapet.spec.load_spec`` (a SpecError says where it is wrong). A spec without
    journey SLIs declares nothing. Call ``declare_journeys`` as well for journeys recorded without an SLO.
    """
    from parapet.spec import load_spec

    names = load_spec(path).journeys
    if names:
        return declare_journeys(*names, registry=registry)
    family = contract(registry).journeys()
    return tuple(sorted(family.allowed(LABEL_JOURNEY) or ())) if family is not None else ()


class Journey:
    """One run of a declared journey; records exactly once."""

    def __init__(self, name: str, registry: CollectorRegistry | None = None) -> None:
        family = contract(registry).journeys()
        allowed = family.allowed(LABEL_JOURNEY) if family is not None else None
        if family is None or allowed is None or name not in allowed:
            declared = ", ".join(sorted(allowed or ())) or "none"
            raise LabelValueError(
                f"journey {name!r} is not declared (declared: {declared}); "
                f"call parapet.metrics.declare_journeys({name!r}) at start-up"
            )
        self.name = name
        self._family = family
        self.outcome: str | None = None

    def succeed(self) -> None:
        self._record("success")

    def fail(self) -> None:
        self._record("failure")

    def _record(self, outcome: str) -> None:
        if self.outcome is not None:
            return
        self.outcome = outcome
        self._family.child((self.name, outcome)).inc()

    def __enter__(self) -> Journey:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.succeed()
        else:
            self.fail()


def journey(name: str, *, registry: CollectorRegistry | None = None) -> Journey:
    """A context manager recording one run of the declared journey ``name``."""
    return Journey(name, registry)
