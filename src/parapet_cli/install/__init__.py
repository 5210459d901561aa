"""``parapet install``: detection, then one plan of every file Parapet writes or edits in a host.

Ordered steps, each adding to the same plan:

    1. spec        parapet.yaml, written only when absent (a starter matched to the detection)
    2. spine       the evidence spine: an Alembic revision, Django's packaged app, or plain SQL
    3. rules       ``gen slo``: recording and alerting rules with their promtool tests
    4. dashboards  ``gen dashboards``: Grafana dashboards and their provisioning file
    5. wiring      libcst codemods of the host's app, settings and urls

Generated files go through ``build_plan`` (create / identical / update / conflict, with the manifest).
Host files edited by a codemod are not Parapet's: they are planned as update or identical from the
codemod's own idempotent result and never enter the manifest. Everything is computed before anything is
written, so a spec error or a host file that does not parse leaves the tree as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from parapet.errors import ConfigError
from parapet.spec import load_spec
from parapet_cli.generators import PlannedFile, dashboards, slo_rules, spine
from parapet_cli.install.detect import Detection, detect
from parapet_cli.install.starter import starter_spec
from parapet_cli.plan import Action, Plan, PlanEntry, _preflight, _write_atomic, apply_plan, build_plan

if TYPE_CHECKING:
    from parapet_cli.codemods import Wiring

SPEC_NAME = "parapet.yaml"


@dataclass
class InstallPlan:
    detection: Detection
    generated: Plan
    wiring: list[PlanEntry]
    notes: list[str] = field(default_factory=list)

    @property
    def combined(self) -> Plan:
        return Plan(self.generated.root, (*self.generated.entries, *self.wiring), self.generated.manifest)


def _at(prefix: str, files: list[PlannedFile]) -> list[PlannedFile]:
    return [PlannedFile(f"{prefix}/{f.path}" if prefix else f.path, f.content, f.generator) for f in files]


def _wiring_entry(root: Path, path: Path, result: Wiring) -> PlanEntry:
    current = path.read_bytes()
    action = Action.UPDATE if result.changed else Action.IDENTICAL
    planned = PlannedFile(path.relative_to(root).as_posix(), result.source.encode("utf-8"), "wiring")
    return PlanEntry(planned, path, planned.path, action, current)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", hint="check the file's permissions") from None


def plan_install(root: Path, *, force: bool = False) -> InstallPlan:
    if not root.is_dir():
        raise ConfigError(f"{root} is not a directory", hint="run parapet install in your service's repository")
    found = detect(root)
    if found.framework is None and found.spec is None:
        raise ConfigError(
            f"no recognisable project in {root}: no FastAPI, Starlette, Flask or Django app and no parapet.yaml",
            hint="run parapet install at the root of your service's repository, or write a parapet.yaml first",
        )
    notes: list[str] = []
    files: list[PlannedFile] = []
    spec_path = root / SPEC_NAME
    if found.spec is None:
        text = starter_spec(found)
        files.append(PlannedFile(SPEC_NAME, text.encode("utf-8"), "spec"))
        model = load_spec(spec_path, text)
    else:
        model = load_spec(spec_path)

    if found.schema_tool == "alembic" and found.alembic_ini is not None:
        target = spine.alembic_target(found.alembic_ini)
        versions = target.versions_dir.resolve().relative_to(root.resolve()).as_posix()
        if target.existing is None:
            files += _at(versions, [spine.alembic_revision(target.head)])
        if not target.env_has_filter:
            notes.append(
                f"add Parapet's filter to Alembic's env.py: {spine.INCLUDE_NAME_IMPORT}; "
                "context.configure(..., include_name=include_name)"
            )
    elif found.schema_tool == "none":
        files += _at("sql", spine.sql_files())

    files += _at(model.rules_dir.strip("/"), slo_rules.generate(model, SPEC_NAME))
    files += _at(dashboards.DEFAULT_DIR, dashboards.generate(model, SPEC_NAME))
    generated = build_plan(files, root, root, force=force)

    wiring: list[PlanEntry] = []
    results: list[tuple[Path, Wiring]] = []
    if found.framework is not None:  # libcst is slow to import: only when there is code to wire
        from parapet_cli.codemods import apps, django
    if found.framework in ("fastapi", "starlette", "flask"):
        wire = apps.wire_flask if found.framework == "flask" else apps.wire_asgi
        for path in found.app_files[:1]:
            results.append((path, wire(_read(path), found.rel(path))))
    elif found.framework == "django":
        if found.settings_file is not None:
            steps = django.wire_settings(_read(found.settings_file), found.rel(found.settings_file))
            results.append((found.settings_file, steps[-1]))
            for step in steps:
                if step.manual:
                    notes.append(
                        f"{found.rel(found.settings_file)}: add by hand ({step.what}):\n    "
                        + "\n    ".join(step.manual)
                    )
        if found.urls_file is not None:
            results.append((found.urls_file, django.wire_urls(_read(found.urls_file), found.rel(found.urls_file))))
    for path, result in results:
        if result.manual and (found.framework != "django" or path == found.urls_file):
            notes.append(
                f"{found.rel(path)}: no anchor found for {result.what}; add by hand:\n    "
                + "\n    ".join(result.manual)
            )
        wiring.append(_wiring_entry(root, path, result))
    if found.framework is None:
        notes.append("no web framework detected: nothing wired (see docs/metrics/ for the lines to add)")
    return InstallPlan(found, generated, wiring, notes)


def apply_install(plan: InstallPlan) -> list[PlanEntry]:
    """Write the plan: every target is checked writable first, so a refused write leaves nothing half-done."""
    for entry in (*plan.generated.entries, *plan.wiring):
        if entry.writes:
            _preflight(entry)
    written = apply_plan(plan.generated)
    for entry in plan.wiring:
        if entry.writes:
            _write_atomic(entry.target, entry.file.content)
            written.append(entry)
    return written
