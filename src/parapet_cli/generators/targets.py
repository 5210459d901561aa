"""The generators the spec drives, listed once: ``parapet gen <name>`` and ``parapet install`` both read
``TARGETS``, so a new target is one entry here (and its generator module).

A target turns the spec into planned files under its default directory (relative to the project root;
``gen --out`` replaces it). ``prunes`` names the file suffixes the target answers for in its directory: a file
with one of them whose first line is the header naming the same spec, and that the target no longer
produces (a renamed service's rules), is deleted, or reported as a conflict when edited by hand.

The evidence spine (``gen spine``) is not here: it follows the host's schema tool, not the spec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from parapet import conventions as c
from parapet.spec.model import Spec
from parapet_cli.generators import PlannedFile


@dataclass(frozen=True)
class Target:
    name: str  # the ``gen`` subcommand
    help: str  # its one-line help (the first line of ``--help``)
    out_help: str  # where the files go by default, for ``--out``'s help
    directory: Callable[[Spec], str]  # the default directory, relative to the project root
    generate: Callable[[Spec, str], list[PlannedFile]]  # (spec, spec's name for the header) -> files
    prunes: tuple[str, ...] = ()  # suffixes of the files it answers for in its directory
    install: bool = True  # ``parapet install`` plans it too (templates to adapt are written on demand only)


def _slo(spec: Spec, spec_name: str) -> list[PlannedFile]:
    from parapet_cli.generators import slo_rules

    return slo_rules.generate(spec, spec_name)


def _dashboards(spec: Spec, spec_name: str) -> list[PlannedFile]:
    from parapet_cli.generators import dashboards

    return dashboards.generate(spec, spec_name)


def _dashboards_dir(_spec: Spec) -> str:
    from parapet_cli.generators import dashboards

    return dashboards.DEFAULT_DIR


def _runbooks(spec: Spec, spec_name: str) -> list[PlannedFile]:
    from parapet_cli.generators import runbooks

    return runbooks.generate(spec, spec_name)


TARGETS: tuple[Target, ...] = (
    Target(
        name="slo",
        help="SLOs to multiwindow, multi-burn-rate recording and alerting rules, with promtool unit tests.",
        out_help="the spec's output.rules_dir",
        directory=lambda spec: spec.rules_dir.strip("/"),
        generate=_slo,
        prunes=(c.rules_file(""), c.rules_test_file("")),
    ),
    Target(
        name="dashboards",
        help="Grafana dashboards per service (overview and one per SLO) and their provisioning file.",
        out_help="grafana/",
        directory=_dashboards_dir,
        generate=_dashboards,
    ),
    Target(
        name="runbooks",
        help="Recovery runbooks to adapt: stalled queues, dead letters, provider outage, callbacks, bad deploy.",
        out_help="runbooks/",
        directory=lambda _spec: "runbooks",
        generate=_runbooks,
        install=False,
    ),
)


def target(name: str) -> Target:
    """The target ``parapet gen <name>`` runs (a doctor check compares the files on disk with its plan)."""
    return next(t for t in TARGETS if t.name == name)
