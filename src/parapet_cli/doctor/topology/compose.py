"""Compose files, merged as ``docker compose -f a.yml -f b.yml`` merges them.

A service that names neither ``image`` nor ``build`` nor ``extends`` cannot run on its own: it is an overlay, and
is merged into the service of the same name in the other Compose files of its directory (so an overlay that only
adds ``links:`` or ``environment:`` makes no process of its own). ``extends`` starts a service from another
(in the same file or another one), ``include`` brings another file's services in. Mappings merge key by key,
sequences add up, and ``command``/``entrypoint`` are replaced, as Compose does. Development overlays
(``*override*``, ``*dev*``, ``*local*``, ``*test*``, ``*ci*``) are left out before any of this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from parapet.spec.source import SourceDocument
from parapet_cli.doctor.topology.model import Line, Process
from parapet_cli.doctor.topology.shell import command_text, normalize
from parapet_cli.doctor.topology.yamlpath import get, yline

REPLACED = frozenset({"command", "entrypoint", "image", "build", "scale"})


def is_compose(name: str, data: dict[str, Any]) -> bool:
    services = data.get("services")
    if not isinstance(services, dict):
        return False
    if "compose" in name.lower():
        return True
    return any(isinstance(s, dict) and ("image" in s or "build" in s) for s in services.values())


@dataclass
class _Layer:
    rel: str
    doc: SourceDocument
    name: str
    svc: dict[str, Any]

    def line(self, *keys: str | int) -> int | None:
        return yline(self.doc, "services", self.name, *keys)


@dataclass
class _Service:
    name: str
    layers: list[_Layer] = field(default_factory=list)  # the first defines it, later ones overlay it

    @property
    def home(self) -> _Layer:
        return self.layers[0]

    def last(self, key: str) -> _Layer | None:
        for layer in reversed(self.layers):
            if key in layer.svc:
                return layer
        return None

    def merged(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for layer in self.layers:
            out = merge(out, layer.svc)
        return out


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if key == "extends":
            continue
        old = out.get(key)
        if key in REPLACED or old is None:
            out[key] = value
        elif key in ("environment", "labels") and isinstance(value, dict | list):
            out[key] = {**_mapping(old), **_mapping(value)}
        elif isinstance(old, dict) and isinstance(value, dict):
            out[key] = merge(old, value)
        elif isinstance(old, list) and isinstance(value, list):
            out[key] = old + [v for v in value if v not in old]
        else:
            out[key] = value
    return out


def _mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        pairs = (str(item).partition("=") for item in value)
        return {k: v for k, _, v in pairs}
    return {}


def _complete(svc: dict[str, Any]) -> bool:
    return any(key in svc for key in ("image", "build", "extends"))


def parse(files: dict[str, SourceDocument]) -> list[Process]:
    """Every service of the Compose files ``files`` (path -> document), overlays merged in."""
    defined: list[_Service] = []
    overlays: list[_Layer] = []
    by_file: dict[str, dict[str, _Layer]] = {}
    for rel, doc in files.items():
        services = get(doc.data, "services")
        if not isinstance(services, dict):
            continue
        for name, svc in services.items():
            if not isinstance(svc, dict):
                continue
            layer = _Layer(rel, doc, str(name), svc)
            by_file.setdefault(rel, {})[str(name)] = layer
            if _complete(svc):
                defined.append(_Service(str(name), [layer]))
            else:
                overlays.append(layer)
    for service in defined:
        service.layers[:0] = _extended(service.home, by_file, depth=0)
    for layer in overlays:
        targets = [s for s in defined if s.name == layer.name and _dir(s.home.rel) == _dir(layer.rel)]
        targets = targets or [s for s in defined if s.name == layer.name]
        for service in targets:
            service.layers.append(layer)
    return [_process(service) for service in defined]


def _dir(rel: str) -> str:
    return PurePosixPath(rel).parent.as_posix()


def _extended(layer: _Layer, by_file: dict[str, dict[str, _Layer]], depth: int) -> list[_Layer]:
    """The layers ``layer`` extends (``extends: {service, file}``), outermost first."""
    ext = layer.svc.get("extends")
    if depth > 5 or ext is None:
        return []
    if isinstance(ext, str):
        name, file = ext, None
    elif isinstance(ext, dict) and isinstance(ext.get("service"), str):
        name, file = ext["service"], ext.get("file")
    else:
        return []
    rel = normalize(f"{_dir(layer.rel)}/{file}") if isinstance(file, str) else layer.rel
    found = by_file.get(rel, {}).get(name)
    if found is None or found is layer:
        return []
    return [*_extended(found, by_file, depth + 1), found]


def _process(service: _Service) -> Process:
    svc = service.merged()
    home = service.home
    deploy = svc.get("deploy")
    deploy = deploy if isinstance(deploy, dict) else {}
    replicas = deploy.get("replicas", svc.get("scale", 1))
    replicas_layer = service.last("deploy") if "replicas" in deploy else service.last("scale")
    where = replicas_layer or home
    process = Process(
        name=service.name,
        origin="compose service",
        path=where.rel,
        line=where.line(),
        replicas=replicas if isinstance(replicas, int) else None,
        many=deploy.get("mode") == "global",
        image=svc.get("image") if isinstance(svc.get("image"), str) else None,
        scratch="tmpfs" in svc,
    )
    for layer in service.layers:
        env = layer.svc.get("environment")
        for j, (key, value) in enumerate(_mapping(env).items()):
            at = Line(layer.rel, layer.line("environment", key if isinstance(env, dict) else j), key)
            process.env[key] = ("" if value is None else str(value), at)
    build_layer = service.last("build")
    if build_layer is not None:
        build = build_layer.svc["build"]
        context = build if isinstance(build, str) else get(build, "context")
        dockerfile = get(build, "dockerfile") if isinstance(build, dict) else None
        ctx_dir = normalize(f"{_dir(build_layer.rel)}/{context if isinstance(context, str) else '.'}")
        process.context = ctx_dir
        process.dockerfile = normalize(f"{ctx_dir}/{dockerfile if isinstance(dockerfile, str) else 'Dockerfile'}")
    parts = [command_text(svc.get(k)) for k in ("entrypoint", "command")]
    command = " ".join(p for p in parts if p)
    if command:
        key = "command" if "command" in svc else "entrypoint"
        layer = service.last(key) or home
        process.command_line = Line(layer.rel, layer.line(key), command)
    process.keeps_entrypoint = "entrypoint" not in svc
    return process
