"""The registry of doctor checks: one function per check, with a stable id, a severity, why and how to fix.

    PAR0xx  the doctor itself (inputs it could not read, suppressions)
    PAR1xx  multi-node and multi-process pitfalls of the host service
    PAR2xx  Parapet's own configuration (the spec, generated files, runbooks, Alertmanager)
    PAR3xx  the store and the rules
    PAR4xx  label cardinality of the host's metrics (``parapet_cli.analyzers.cardinality``)

A check is registered with ``@check(...)``; its docstring says *why* the check exists. Another analyzer
(the cardinality lint) registers its own ids and family the same way and shares the runner and outputs.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from parapet.errors import UsageError
from parapet_cli.doctor.findings import Finding, Severity

if TYPE_CHECKING:
    from parapet_cli.doctor.context import Context

ID_PATTERN = re.compile(r"^PAR\d{3}$")

FAMILIES = {
    "PAR0": "doctor",
    "PAR1": "multinode",
    "PAR2": "config",
    "PAR3": "store",
    "PAR4": "cardinality",
}


@dataclass(frozen=True)
class CheckInfo:
    id: str
    name: str  # a short slug, e.g. celery-beat-multi-node
    title: str  # one line: what is wrong when it fires
    severity: Severity  # the highest severity it reports
    why: str
    fix: str
    family: str


@dataclass(frozen=True)
class Example:
    """A small repository a check is proven on (as Fixit's VALID/INVALID): ``files`` (path -> text) and exactly the
    findings the check must report on it (path, line, severity); none for a quiet example. The test suite runs
    every example of every check (tests/doctor/test_examples.py), with the store ``store_jobs`` describes."""

    name: str
    files: Mapping[str, str]
    fires: tuple[tuple[str | None, int | None, str], ...] = ()
    # For checks that read the store: the work engine's jobs it holds (column -> value; the rest defaulted). The
    # test runs such an example against a migrated SQLite store with these rows (PARAPET_DATABASE_URL set to it);
    # None: no database URL is configured.
    store_jobs: tuple[Mapping[str, object], ...] | None = None

    @property
    def quiet(self) -> bool:
        return not self.fires


@dataclass(frozen=True)
class Check:
    info: CheckInfo
    run: Callable[[Context], Iterable[Finding]]
    # The text a Python module must contain for the check to find anything in it (None: the check reads no module
    # through ``ctx.py``; ``EVERY_MODULE``: any may matter). The doctor parses only modules a selected check wants,
    # and remembers per file which checks want it.
    python: re.Pattern[str] | None = None
    examples: tuple[Example, ...] = ()


EVERY_MODULE = ""
# The rule of a finding a check reports: the runner writes the check's id into it, so the id is written once, in
# ``@check``.
THIS = ""


REGISTRY: dict[str, Check] = {}
# Questions about the text of the host's modules, answered for every production module and remembered per file
# with the checks' patterns (``ctx.py.text_matches(name)``): "does any module import django.core.cache?" without
# parsing every module that does.
TEXT_QUESTIONS: dict[str, re.Pattern[str]] = {}
# Checks that only describe findings emitted by the framework itself (no function to run).
NOTES: dict[str, CheckInfo] = {}


class UnknownCheck(UsageError):
    """A check id, name or family that no check has."""


def _family(check_id: str) -> str:
    return FAMILIES.get(check_id[:4], "other")


def _doc(obj: object) -> str:
    return inspect.cleandoc(obj.__doc__ or "").strip()


def check(
    check_id: str,
    name: str,
    *,
    title: str,
    severity: Severity,
    fix: str,
    family: str | None = None,
    python: str | None = None,
    examples: Iterable[Example] = (),
) -> Callable[[Callable[[Context], Iterable[Finding]]], Callable[[Context], Iterable[Finding]]]:
    """Register ``fn`` as the check ``check_id``; its docstring is the *why*; ``python`` is the regular expression
    a module's text must match for the check to need it (None: it reads no module through ``ctx.py``)."""
    if not ID_PATTERN.match(check_id):
        raise ValueError(f"bad check id {check_id!r}")

    def register(fn: Callable[[Context], Iterable[Finding]]) -> Callable[[Context], Iterable[Finding]]:
        if check_id in REGISTRY or check_id in NOTES:
            raise ValueError(f"check id {check_id} registered twice")
        why = _doc(fn)
        if not why:
            raise ValueError(f"check {check_id} needs a docstring saying why it exists")
        info = CheckInfo(check_id, name, title, severity, why, fix, family or _family(check_id))
        REGISTRY[check_id] = Check(info, fn, None if python is None else re.compile(python), tuple(examples))
        return fn

    return register


def text_question(name: str, pattern: str) -> str:
    """Register a question about modules' text (a regular expression); returns its name."""
    TEXT_QUESTIONS[name] = re.compile(pattern)
    return name


def note(check_id: str, name: str, *, title: str, severity: Severity, why: str, fix: str) -> CheckInfo:
    """Register an id that the framework itself reports (it has no function of its own)."""
    info = CheckInfo(check_id, name, title, severity, why, fix, _family(check_id))
    NOTES[check_id] = info
    return info


def load() -> None:
    from parapet_cli.analyzers import register_checks
    from parapet_cli.doctor.checks import MODULES

    for module in [f"parapet_cli.doctor.checks.{m}" for m in MODULES]:
        importlib.import_module(module)
    register_checks()


def all_infos() -> list[CheckInfo]:
    load()
    infos = [c.info for c in REGISTRY.values()] + list(NOTES.values())
    return sorted(infos, key=lambda i: i.id)


def info(check_id: str) -> CheckInfo:
    load()
    if check_id in REGISTRY:
        return REGISTRY[check_id].info
    return NOTES[check_id]


def select(selectors: Iterable[str]) -> list[Check]:
    """The checks named by ids (``PAR106``), names (``metrics-public``) or families (``multinode``); all if none."""
    load()
    checks = sorted(REGISTRY.values(), key=lambda c: c.info.id)
    wanted = [s.strip() for s in selectors if s.strip()]
    if not wanted:
        return checks
    chosen: dict[str, Check] = {}
    for raw in wanted:
        key = raw.upper() if raw.upper().startswith("PAR") else raw.lower()
        hits = [c for c in checks if key in (c.info.id, c.info.name, c.info.family)]
        if not hits:
            families = sorted({c.info.family for c in checks})
            raise UnknownCheck(
                f"unknown check {raw!r}",
                hint=f"use ids such as PAR101, names, or families ({', '.join(families)}); see docs/checks.md",
            )
        for c in hits:
            chosen[c.info.id] = c
    return [chosen[k] for k in sorted(chosen)]
