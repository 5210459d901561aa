"""``parapet install``: detection, then one plan of every file Parapet writes or edits in a host.

Ordered steps, each adding to the same plan:

    1. spec        parapet.yaml, written only when absent (a starter matched to the detection)
    2. spine       the evidence spine: an Alembic revision, Django's packaged app, or plain SQL
    3. targets     every target of ``generators.targets.TARGETS``, as ``parapet gen <name>`` plans it: rules
                   with their promtool tests (``gen slo``), Grafana dashboards (``gen dashboards``)
    5. wiring      libcst codemods of the host's app, settings and urls, SQLAlchemy engines, Celery or
                   procrastinate app and Alembic env.py, chained per file: see ``install/wiring.py``
    6. deployment  merges into the host's prometheus.yml and alertmanager.yml, and the ``--with``
                   extras (alertmanager, compose, k8s: ``install/extras.py``; ui, the web app's mount in
                   step 5 and ``--eject``'s template copies: ``install/ui.py``)

Generated files go through ``build_plan`` (create / identical / update / conflict, with the manifest).
Host files edited by a codemod are not Parapet's: they are planned with ``plan.host_entry`` as update or
identical from the codemod's own idempotent result and never enter the manifest. Everything is computed
before anything is written, so a spec error or a host file that does not parse leaves the tree as it was.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from parapet.errors import ConfigError
from parapet.spec import load_spec
from parapet_cli.generators import PlannedFile, spine
from parapet_cli.generators.targets import TARGETS
from parapet_cli.install.detect import Detection, detect
from parapet_cli.install.extras import plan_deployment
from parapet_cli.install.starter import starter_spec
from parapet_cli.plan import Plan, PlanEntry, build_plan, host_entry

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
        """Every file of the install in one plan, shown and applied as ``gen``'s are (``plan.apply_plan``)."""
        return self.generated.with_entries(self.wiring)


def _at(prefix: str, files: list[PlannedFile]) -> list[PlannedFile]:
    return [PlannedFile(f"{prefix}/{f.path}" if prefix else f.path, f.content, f.generator) for f in files]


def _wiring_entry(root: Path, path: Path, result: Wiring) -> PlanEntry:
    return host_entry(root, path, result.source.encode("utf-8"), path.read_bytes(), "wiring")


def _inside(root: Path, path: Path, what: str) -> str:
    resolved, top = path.resolve(), root.resolve()
    if not resolved.is_relative_to(top):
        raise ConfigError(
            f"{what} {resolved} is outside {top}, the directory parapet install runs in",
            hint="run parapet install at the root of the repository that holds it; nothing was written",
        )
    return resolved.relative_to(top).as_posix()


def choose_alembic(found: Detection, notes: list[str]) -> Path:
    """The Alembic configuration to chain the evidence spine onto. With several, the one whose ``env.py``
    names a ``target_metadata`` (the host's models), then the shallowest; the choice is said in a note.
    A configuration that cannot be read is an error only when it is the only one."""
    from parapet_cli.alembic_tree import read_config, target_metadata

    configs = found.alembic_configs
    if len(configs) == 1:
        return configs[0]
    ranked: list[tuple[bool, int, str, Path, str | None]] = []
    unreadable: list[str] = []
    first_error: ConfigError | None = None
    for path in configs:
        try:
            config = read_config(path)
        except ConfigError as exc:
            first_error = first_error or exc
            unreadable.append(f"{found.rel(path)} ({exc.message})")
            continue
        metadata = target_metadata(config.env)
        rel = found.rel(path)
        ranked.append((metadata is None, rel.count("/"), rel, path, metadata))
    if not ranked:
        assert first_error is not None
        raise first_error
    ranked.sort(key=lambda item: item[:3])
    _, _, rel, chosen, metadata = ranked[0]
    why = (
        f"its env.py sets target_metadata = {metadata}" if metadata else "none names a target_metadata; the shallowest"
    )
    others = [item[2] for item in ranked[1:]] + unreadable
    notes.append(
        f"several Alembic configurations: chose {rel} ({why}); left alone: {', '.join(others)}. "
        f"Another one: parapet gen spine --for alembic --alembic-ini PATH"
    )
    return chosen


def plan_install(
    root: Path, *, force: bool = False, extras: frozenset[str] = frozenset(), eject: bool = False
) -> InstallPlan:
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
    with_ui = "ui" in extras or eject
    token_file = (_secret(found, []) or _starter_secret()) if with_ui else None
    if found.spec is None:
        text = starter_spec(found, webhook_token_file=token_file)
        files.append(PlannedFile(SPEC_NAME, text.encode("utf-8"), "spec"))
        model = load_spec(spec_path, text)
    else:
        model = load_spec(spec_path)

    alembic_env: Path | None = None
    if found.schema_tool == "alembic":
        found.alembic_ini = choose_alembic(found, notes)
        target = spine.alembic_target(found.alembic_ini)
        versions = _inside(root, target.versions_dir, "the Alembic versions directory")
        files += _at(versions, spine.alembic_revisions(target))
        alembic_env = target.env
        if alembic_env is None:
            notes.append(
                f"add Parapet's filter to Alembic's env.py: {spine.INCLUDE_NAME_IMPORT}; "
                "context.configure(..., include_name=include_name)"
            )
    elif found.schema_tool == "none":
        files += _at("sql", spine.sql_files())

    for step in (t for t in TARGETS if t.install):  # the spec's generators, as ``parapet gen <name>`` runs them
        files += _at(step.directory(model), step.generate(model, SPEC_NAME))
    deployment = plan_deployment(root, found, model, SPEC_NAME, files, extras)
    files += deployment.files
    if with_ui:
        from parapet_cli.install.ui import ejected_templates, ui_notes

        files += ejected_templates() if eject else []
        notes += ui_notes(found, model, root, deployment_secret=_secret(found, files) or _starter_secret())
    generated = build_plan(files, root, root, force=force)

    wiring: list[PlanEntry] = []
    if found.framework is not None or found.engine_files or found.job_files or alembic_env is not None:
        from parapet_cli.install.wiring import wire_host  # libcst is slow to import: only with code to wire

        for path, result in wire_host(found, notes, alembic_env=alembic_env, ui_spec=SPEC_NAME if with_ui else None):
            wiring.append(_wiring_entry(root, path, result))
    else:
        notes.append("no web framework detected: nothing wired (see docs/metrics/ for the lines to add)")
    wiring += deployment.entries(root)
    notes += deployment.notes
    return InstallPlan(found, generated, wiring, notes)


def _secret(found: Detection, files: list[PlannedFile]) -> str | None:
    """The webhook token file Alertmanager is told to send (``credentials_file`` beside the alertmanager.yml
    install writes or merges into), relative to the root; None without an alertmanager.yml."""
    from parapet_cli.install.extras import ALERTMANAGER_NAMES, SECRET

    candidates = [f.path for f in files if posixpath.basename(f.path) in ALERTMANAGER_NAMES]
    candidates += [found.rel(p) for p in found.deployment if p.name in ALERTMANAGER_NAMES]
    if not candidates:
        return None
    return posixpath.join(posixpath.dirname(candidates[0]), SECRET)


def _starter_secret() -> str:
    from parapet_cli.install.extras import SECRET, STARTER_ALERTMANAGER

    return posixpath.join(posixpath.dirname(STARTER_ALERTMANAGER), SECRET)


def plan_ui(root: Path, *, force: bool = False, eject: bool = False) -> InstallPlan:
    """``parapet gen ui``: the mount of the web app and, with ``eject``, the templates; nothing else."""
    from parapet_cli.install.ui import ejected_templates, ui_notes
    from parapet_cli.install.wiring import wire_ui

    if not root.is_dir():
        raise ConfigError(f"{root} is not a directory", hint="run parapet gen ui in your service's repository")
    found = detect(root)
    if found.framework is None:
        raise ConfigError(
            f"no FastAPI, Starlette, Django or Flask app in {root}: nothing to mount Parapet's web app in",
            hint="run parapet gen ui at the root of your service's repository, or run `parapet serve`",
        )
    model = load_spec(root / SPEC_NAME) if found.spec is not None else None
    notes = ui_notes(found, model, root, deployment_secret=_secret(found, []) or _starter_secret())
    generated = build_plan(ejected_templates() if eject else [], root, root, force=force)
    wiring = [_wiring_entry(root, path, result) for path, result in wire_ui(found, notes, SPEC_NAME)]
    return InstallPlan(found, generated, wiring, notes)
