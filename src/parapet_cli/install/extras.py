"""``parapet install``'s deployment step: merges into the host's monitoring configs, and the ``--with`` extras.

    always         prometheus.yml found     its rule_files and a scrape job for the service merged in
                   alertmanager.yml found   a webhook receiver for Parapet and a route to it merged in
    alertmanager   no alertmanager.yml      a starter alertmanager/alertmanager.yml (then merged as above)
    compose        a host compose file      compose.parapet.yaml beside it (Prometheus, Alertmanager,
                                            Grafana) and Grafana's datasource; implies alertmanager, and
                                            writes a starter prometheus/prometheus.yml when there is none
    k8s                                     k8s/parapet/: PrometheusRule, ServiceMonitor, dashboard ConfigMaps
    ui                                      the web app mounted at /parapet (install/ui.py; --eject copies
                                            the UI's templates into templates/parapet/)

Host files, merged or started, are the host's: they are planned create / update / identical from the
merge's idempotent result and never enter the manifest, so a user's edit of them is never a conflict.
An extra's own files (the compose override, the Kubernetes manifests, the datasource) are Parapet's:
they go through the plan with the manifest. An extra whose files Parapet wrote before stays on without
``--with``, so a spec edit never leaves its copy of the rules or dashboards stale; deleting its files
turns it off.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from parapet import conventions as c
from parapet.errors import UsageError
from parapet.spec.model import Spec
from parapet_cli.generators import PlannedFile, compose, k8s
from parapet_cli.generators import dashboards as dash
from parapet_cli.install import configs
from parapet_cli.install.detect import Detection, read_host_file
from parapet_cli.manifest import Manifest
from parapet_cli.plan import PlanEntry, host_entry

EXTRAS = ("alertmanager", "compose", "k8s", "ui")
NOT_YET: dict[str, str] = {}
PROMETHEUS_NAMES = ("prometheus.yml", "prometheus.yaml")
ALERTMANAGER_NAMES = ("alertmanager.yml", "alertmanager.yaml")
COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
STARTER_PROMETHEUS = "prometheus/prometheus.yml"
STARTER_ALERTMANAGER = "alertmanager/alertmanager.yml"
SECRET = "secrets/parapet-webhook-token"  # relative to alertmanager.yml, as Alertmanager resolves it
DEFAULT_PORT = 8000
RULES_GLOB = "*.rules.yml"
_SERVERS = re.compile(r"\b(uvicorn|gunicorn|hypercorn|granian|daphne|waitress|flask|runserver|fastapi)\b")
_PORT_FLAGS = re.compile(r"(?:--port[= ]|-p )(\d+)|(?:--bind[= ]|-b |runserver )(?:\S*:)?(\d+)")


class UnknownExtra(UsageError):
    """``--with`` named an extra that does not exist: a usage error, like an unknown option value."""


def parse_extras(values: Iterable[str]) -> frozenset[str]:
    """``--with`` values, repeated or comma-separated, checked against ``EXTRAS``."""
    chosen: set[str] = set()
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            if name not in EXTRAS:
                raise UnknownExtra(
                    f"unknown extra {part.strip()!r} for --with",
                    hint=f"choose from {', '.join(EXTRAS)} (repeat --with, or separate them with commas)",
                )
            chosen.add(name)
    return frozenset(chosen)


@dataclass(frozen=True)
class HostFile:
    """A host-owned file Parapet merged into (or started): planned from the merge's own result."""

    path: Path
    source: str
    current: bytes | None
    generator: str  # "config" for a merge, "starter" for a file written once

    def entry(self, root: Path) -> PlanEntry:
        return host_entry(root, self.path, self.source.encode("utf-8"), self.current, self.generator)


@dataclass
class Deployment:
    files: list[PlannedFile] = field(default_factory=list)  # Parapet's, relative to the root, for build_plan
    hosts: list[HostFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def entries(self, root: Path) -> list[PlanEntry]:
        return [h.entry(root) for h in self.hosts]


@dataclass(frozen=True)
class Target:
    """Where Prometheus and Alertmanager reach the service, and what told us."""

    address: str
    guessed: bool
    origin: str


def _rel(path: str, start: str) -> str:
    return posixpath.relpath(path, start or ".")


def _sticky(root: Path) -> set[str]:
    """Extras whose files Parapet wrote before and that are still there."""
    keys = [k for k in Manifest.load(root).files if (root / k).exists()]
    on: set[str] = set()
    if any(posixpath.basename(k) == compose.FILE for k in keys):
        on.add("compose")
    if any(k.startswith(k8s.DIR + "/") for k in keys):
        on.add("k8s")
    return on


def _host_compose(found: Detection) -> Path | None:
    """The host's own compose file: at the shallowest level, canonical names first, never an override."""
    candidates = [
        p
        for p in found.deployment
        if re.fullmatch(r"(docker-)?compose.*\.ya?ml", p.name) and p.name != compose.FILE and "override" not in p.name
    ]
    if not candidates:
        return None

    def rank(p: Path) -> tuple[int, int, str]:
        name = COMPOSE_NAMES.index(p.name) if p.name in COMPOSE_NAMES else len(COMPOSE_NAMES)
        return (len(p.relative_to(found.root).parts), name, p.as_posix())

    return min(candidates, key=rank)


def _load_yaml(path: Path) -> list[Any]:
    try:
        return list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []


def _port(svc: dict[str, Any]) -> int | None:
    for key in ("expose", "ports"):
        for entry in svc.get(key) or []:
            if isinstance(entry, dict):
                entry = entry.get("target")
            text = str(entry).split("/")[0].rsplit(":", 1)[-1].split("-")[0]
            if text.isdigit():
                return int(text)
    for key in ("command", "entrypoint"):
        value = svc.get(key)
        line = " ".join(map(str, value)) if isinstance(value, list) else str(value or "")
        match = _PORT_FLAGS.search(line)
        if match:
            return int(match.group(1) or match.group(2))
    return None


def service_target(services: Any, spec: Spec) -> tuple[str, int | None] | None:
    """The compose service that runs the app (named like it, built here, or running a known server)."""
    if not isinstance(services, dict):
        return None
    named = {str(k): v for k, v in services.items() if isinstance(v, dict)}

    def command(svc: dict[str, Any]) -> str:
        return " ".join(str(svc.get(k) or "") for k in ("command", "entrypoint"))

    for pick in (
        [n for n in named if n in (spec.service, k8s.dns_name(spec.service))],
        [n for n in named if "build" in named[n] and _SERVERS.search(command(named[n]))],
        [n for n in named if "build" in named[n]],
        [n for n in named if _SERVERS.search(command(named[n]))],
    ):
        if pick:
            return pick[0], _port(named[pick[0]])
    return None


def _target(found: Detection, spec: Spec, compose_file: Path | None) -> Target:
    if compose_file is not None:
        docs = _load_yaml(compose_file)
        hit = service_target(docs[0].get("services") if docs and isinstance(docs[0], dict) else None, spec)
        if hit is not None:
            name, port = hit
            origin = f"service {name} of {found.rel(compose_file)}"
            return Target(f"{name}:{port or DEFAULT_PORT}", port is None, origin)
    return Target(f"localhost:{DEFAULT_PORT}", True, "a guess")


def plan_deployment(
    root: Path,
    found: Detection,
    spec: Spec,
    spec_name: str,
    planned: list[PlannedFile],
    extras: frozenset[str] = frozenset(),
) -> Deployment:
    """The deployment step of the install plan: host config merges, starters and the extras' files."""
    out = Deployment()
    active = set(extras) | _sticky(root)
    for name in sorted(active & NOT_YET.keys()):
        out.notes.append(f"not yet: --with {name}: {NOT_YET[name]}")
    if "compose" in active:
        active.add("alertmanager")
    host_compose = _host_compose(found)
    target = _target(found, spec, host_compose)
    rules_dir = posixpath.normpath(spec.rules_dir.strip("/"))
    rule_file = f"{rules_dir}/{c.rules_file(spec.service)}"

    proms = [p for p in found.deployment if p.name in PROMETHEUS_NAMES]
    starters: set[Path] = set()
    if not proms and "compose" in active and host_compose is not None:
        proms = [root / STARTER_PROMETHEUS]
        starters.add(proms[0])
    for path in proms:
        rel = found.rel(path)
        base = posixpath.dirname(rel)
        if path in starters:
            text, current = starter_prometheus(spec.service), None
        else:
            text, raw = read_host_file(path)
            current = raw
        edit = configs.edit_prometheus(
            text,
            rel,
            rule_glob=f"{_rel(rules_dir, base)}/{RULES_GLOB}",
            rule_file=_rel(rule_file, base),
            job=configs.ScrapeJob(spec.service, target.address, target.guessed),
        )
        _record(out, path, edit, current, rel, "starter" if current is None else "config")
        if edit.added and not target.guessed:
            out.notes.append(f"{rel}: scrape target {target.address} from {target.origin}")

    hook = configs.Webhook(
        c.receiver_name(spec.service),
        f"http://{target.address}{c.WEBHOOK_PATH}",
        spec.service,
        SECRET,
        target.guessed,
    )
    ams = [p for p in found.deployment if p.name in ALERTMANAGER_NAMES]
    if not ams and "alertmanager" in active:
        ams = [root / STARTER_ALERTMANAGER]
        starters.add(ams[0])
    for path in ams:
        rel = found.rel(path)
        if path in starters:
            text, current = starter_alertmanager(), None
        else:
            text, current = read_host_file(path)
        edit = configs.edit_alertmanager(text, rel, hook=hook)
        _record(out, path, edit, current, rel, "starter" if current is None else "config")
        if edit.added and any(a.startswith("receiver") for a in edit.added):
            secret = posixpath.join(posixpath.dirname(rel), SECRET)
            out.notes.append(
                f"{rel}: the receiver reads its bearer token from {secret}: create that file (keep it out of "
                "version control) with the token Parapet's webhook expects"
            )
            out.notes.append(
                f"Parapet's webhook ({c.WEBHOOK_PATH}) answers once the host serves Parapet's app: "
                f"`parapet serve --webhook-token-file {secret}`, or mount parapet.web.create_app at /parapet "
                "(docs/operating.md)"
            )

    if "compose" in active:
        _compose(out, root, found, spec, spec_name, host_compose, proms, ams, rules_dir)
    if "k8s" in active:
        _k8s(out, found, spec, spec_name, planned, explicit="k8s" in extras)
    return out


def _record(out: Deployment, path: Path, edit: configs.Edit, current: bytes | None, rel: str, kind: str) -> None:
    out.hosts.append(HostFile(path, edit.source, current, kind))
    if edit.added:
        out.notes.append(f"{rel}: add {'; '.join(edit.added)}")
    if edit.manual:
        out.notes.append(
            f"{rel}: its layout does not allow a safe edit for {edit.what}; add by hand:\n    "
            + "\n    ".join(edit.manual)
        )


def starter_prometheus(service: str) -> str:
    """A prometheus.yml for the compose stack; ``parapet install`` then merges its entries into it."""
    return (
        f"# prometheus.yml for {service}, written once by `parapet install --with compose`: it is yours to edit.\n"
        "# parapet install only adds its own entries (its rule files, the service's scrape job) and keeps\n"
        "# everything else as you write it.\n"
        "global:\n"
        "  scrape_interval: 15s\n"
        "  evaluation_interval: 15s\n"
        "\n"
        "alerting:\n"
        "  alertmanagers:\n"
        "    - static_configs:\n"
        f"        - targets: ['alertmanager:{compose.PORTS['alertmanager']}']\n"
    )


def starter_alertmanager() -> str:
    """An alertmanager.yml with one catch-all receiver for the team; Parapet's receiver is merged in."""
    return (
        "# alertmanager.yml, written once by `parapet install`: it is yours to edit (add your team's\n"
        "# receivers: email, Slack, PagerDuty…). parapet install only adds its own receiver and the route to\n"
        "# it, and keeps everything else as you write it.\n"
        "route:\n"
        "  receiver: default\n"
        "  group_by: [alertname, service, slo]\n"
        "\n"
        "receivers:\n"
        "  - name: default  # no integration yet: alerts that reach it are dropped\n"
    )


def _compose(
    out: Deployment,
    root: Path,
    found: Detection,
    spec: Spec,
    spec_name: str,
    host_compose: Path | None,
    proms: list[Path],
    ams: list[Path],
    rules_dir: str,
) -> None:
    if host_compose is None:
        out.notes.append("--with compose: no compose file in the repository, so nothing to add Parapet's stack to")
        return
    base = posixpath.dirname(found.rel(host_compose))
    docs = _load_yaml(host_compose)
    services = docs[0].get("services") if docs and isinstance(docs[0], dict) else None
    taken = frozenset(str(k) for k in services) if isinstance(services, dict) else frozenset()
    skip = taken & set(compose.IMAGES)
    prom, am = found.rel(proms[0]), found.rel(ams[0])
    layout = compose.Layout(
        compose_file=host_compose.name,
        prometheus_yml=_rel(prom, base),
        rules_dir=_rel(rules_dir, base),
        rules_entry_dir=_rel(rules_dir, posixpath.dirname(prom)),
        alertmanager_yml=_rel(am, base),
        secret_file=_rel(posixpath.join(posixpath.dirname(am), SECRET), base),
        credentials_file=SECRET,
        grafana_dir=_rel(dash.DEFAULT_DIR, base),
        skip=frozenset(skip),
    )
    for name in sorted(skip):
        out.notes.append(
            f"{found.rel(host_compose)} already has a {name} service: {compose.FILE} leaves it out; give it the "
            "mounts Parapet's would have (docs/install.md lists them)"
        )
    if skip != set(compose.IMAGES):
        prefix = f"{base}/" if base else ""
        out.files.append(
            PlannedFile(prefix + compose.FILE, compose.override(spec, spec_name, layout).content, compose.GENERATOR)
        )
    if "grafana" not in skip:
        source = compose.datasource(spec_name)
        out.files.append(PlannedFile(f"{dash.DEFAULT_DIR}/{source.path}", source.content, source.generator))


def _k8s(
    out: Deployment, found: Detection, spec: Spec, spec_name: str, planned: list[PlannedFile], explicit: bool
) -> None:
    documents: list[tuple[str, Any]] = []
    for path in found.deployment:
        rel = found.rel(path)
        if path.suffix in (".yml", ".yaml") and not rel.startswith(k8s.DIR + "/"):
            documents += [(rel, doc) for doc in _load_yaml(path)]
    service = k8s.service_from_manifests(documents, spec)
    folder = f"{dash.DEFAULT_DIR}/dashboards/{spec.service}/"
    boards = [
        (posixpath.basename(f.path), f.content)
        for f in planned
        if f.generator == dash.GENERATOR and f.path.startswith(folder) and f.path.endswith(".json")
    ]
    for f in k8s.generate(spec, spec_name, boards, service):
        out.files.append(PlannedFile(f"{k8s.DIR}/{f.path}", f.content, f.generator))
    if service is None and explicit:
        out.notes.append(
            f"{k8s.DIR}/servicemonitor.yaml: no Service manifest in the repository; it assumes the label "
            f"app.kubernetes.io/name={k8s.dns_name(spec.service)} and a port named http"
        )
