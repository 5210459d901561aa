"""The ``probe`` job kind and the periodics of the spec's probes (see ``parapet.probes``).

``install(spec)`` runs where the runtime sets itself up from the spec (``parapet.work.registry``'s
``install_subscribers``, from ``create_app`` and every worker): one periodic per probe, ``probe:<name>``, every
``every``; the worker's ``when`` check keeps a probe that left the spec from running. The handler runs the probe
and returns its result as the job's result; it never raises, so a slot is not retried (a failing probe is an
outcome, not a failed job).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from parapet.probes import PERIODIC_PREFIX, PROBE_JOB, probe_named, run_probe
from parapet.spec.model import Probe, Spec
from parapet.work import JobContext, handler, periodic


@handler(PROBE_JOB)
def run(ctx: JobContext) -> Mapping[str, Any] | None:
    name = str(ctx.job.payload.get("periodic") or ctx.job.key.rsplit("@", 1)[0]).removeprefix(PERIODIC_PREFIX)
    probe = probe_named(ctx.settings, name)
    if probe is None:
        return {"probe": name, "skipped": "not in the spec"}
    return run_probe(probe).as_dict()


def install(spec: Spec | None) -> list[str]:
    """Register a periodic job for each probe of the spec (idempotent: the same names and slots in every process
    that loads the same spec); returns the periodic names."""
    names = []
    for probe in spec.probes if spec is not None else ():
        name = PERIODIC_PREFIX + probe.name
        periodic(name, every=probe.every, kind=PROBE_JOB, when=_declared(probe))
        names.append(name)
    return names


def _declared(probe: Probe) -> Callable[[Any], bool]:
    """The worker runs the probe's slots only while its spec still declares this very probe."""

    def when(worker: Any) -> bool:
        return probe_named(getattr(worker, "settings", None), probe.name) == probe

    return when
