"""Compose files, merged as ``docker compose -f a.yml -f b.yml`` merges them.

A service that names neither ``image`` nor ``build`` nor ``extends`` cannot run on its own: it is an overlay, and
is merged into the service of the same name in the other Compose files of its directory (so an overlay that only
adds ``links:`` or ``environment:`` makes no process of its own). ``extends`` starts a service from another
(in the same file or another one). Mappings merge key by key, sequences add up, and ``command``/``entrypoint`` are
replaced, as Compose does. Development overlays (``*override*``, ``*dev*``, ``*local*``, ``*test*``, ``*ci*``) are
left out before any of this.

``include`` (Compose 2.20+) brings other Compose applications in, each loaded as its own model: a short entry is
a path, a long one ``{path: one or a list, project_directory: …, env_file: …}``. Paths are relative to the project
directory of the including model (a top-level file's own folder); the files of one entry's ``path`` list are
merged together as ``-f`` merges them (and only with each other); the included model's relative paths (build
contexts, nested includes) resolve against its ``project_directory``, by default the folder of its first file.
Includes apply recursively; a file included but missing, outside the repository or in a cycle is a PAR000 note.
``env_file`` sets defaults for interpolation, which the topology does not do, so it is not read.
"""

from __future__ import annotations

from collections.abc import Callable
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


# A file's first YAML document (None: missing or not YAML), and a PAR000 note about a file (path, message, line).
Reader = Callable[[str], SourceDocument | None]
Noter = Callable[[str, str, int | None], None]


@dataclass
class _Layer:
    rel: str
    doc: SourceDocument
    name: str
    svc: dict[str, Any]
    model: int = 0  # 0: the top-level files; n: the n-th application model an ``include`` brings in
    base: str = ""  # the model's project directory: where relative paths resolve

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


def parse(files: dict[str, SourceDocument], read: Reader | None = None, note: Noter | None = None) -> list[Process]:
    """Every service of the Compose files ``files`` (path -> document), overlays merged in and included
    applications brought in (``read`` loads an included file that is not among ``files``)."""
    models = _Includes(files, read or files.get, note or (lambda rel, message, line: None)).models()
    defined: list[_Service] = []
    overlays: list[_Layer] = []
    by_file: dict[str, dict[str, _Layer]] = {}
    for model, (base, members) in enumerate(models):
        for rel, doc in members.items():
            services = get(doc.data, "services")
            if not isinstance(services, dict):
                continue
            for name, svc in services.items():
                if not isinstance(svc, dict):
                    continue
                layer = _Layer(rel, doc, str(name), svc, model, base if model else _dir(rel))
                by_file.setdefault(rel, {})[str(name)] = layer
                if _complete(svc):
                    defined.append(_Service(str(name), [layer]))
                else:
                    overlays.append(layer)
    for service in defined:
        service.layers[:0] = _extended(service.home, by_file, depth=0)
    for layer in overlays:
        mine = [s for s in defined if s.name == layer.name and s.home.model == layer.model]
        targets = [s for s in mine if _dir(s.home.rel) == _dir(layer.rel)] if layer.model == 0 else mine
        for service in targets or mine:
            service.layers.append(layer)
    return [_process(service) for service in defined]


def _dir(rel: str) -> str:
    return PurePosixPath(rel).parent.as_posix()


def _join(base: str, path: str) -> str | None:
    """``base/path`` inside the repository, or None for an absolute path or one that leaves the repository."""
    if path.startswith("/"):
        return None
    parts: list[str] = []
    for part in PurePosixPath(base, path).parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


class _Includes:
    """The application models of a set of Compose files: the top-level files first, then one per ``include``
    entry reached from them (recursively), each with its project directory and files."""

    def __init__(self, files: dict[str, SourceDocument], read: Reader, note: Noter) -> None:
        self.files, self.read, self.note = files, read, note
        self.out: list[tuple[str, dict[str, SourceDocument]]] = []
        self.included: set[str] = set()

    def models(self) -> list[tuple[str, dict[str, SourceDocument]]]:
        # files no other file includes are expanded first, so an included file is read in its includer's model
        direct = {
            target
            for rel, doc in self.files.items()
            for _, paths, _ in _entries(doc)
            for path in paths
            if (target := _join(_dir(rel), path)) is not None
        }
        for rel in sorted(self.files, key=lambda rel: rel in direct):
            if rel not in self.included:
                self._expand(rel, self.files[rel], _dir(rel), (rel,))
        top = {rel: doc for rel, doc in self.files.items() if rel not in self.included}
        return [("", top), *self.out]

    def _expand(self, rel: str, doc: SourceDocument, base: str, chain: tuple[str, ...]) -> None:
        for i, paths, project in _entries(doc):
            line = yline(doc, "include", i)
            members: dict[str, SourceDocument] = {}
            for path in paths:
                target = _join(base, path)
                loaded = self.read(target) if target is not None else None
                if target is None or loaded is None:
                    self.note(rel, f"included Compose file not found in the repository: {path}", line)
                elif target in chain:
                    self.note(rel, f"include cycle: {' -> '.join([*chain, target])}", line)
                elif target not in self.included:  # an application included twice is loaded once
                    members[target] = loaded
            if not members:
                continue
            first = next(iter(members))
            home = _join(base, project) if isinstance(project, str) else _dir(first)
            home = _dir(first) if home is None else home
            self.included.update(members)
            self.out.append((home, members))
            for member, member_doc in members.items():
                self._expand(member, member_doc, home, (*chain, member))


def _entries(doc: SourceDocument) -> list[tuple[int, list[str], Any]]:
    """The ``include`` entries of a Compose file: (index, paths, project_directory)."""
    entries = get(doc.data, "include")
    out: list[tuple[int, list[str], Any]] = []
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        raw = entry.get("path") if isinstance(entry, dict) else entry
        paths = (
            [raw] if isinstance(raw, str) else [p for p in raw if isinstance(p, str)] if isinstance(raw, list) else []
        )
        out.append((i, paths, entry.get("project_directory") if isinstance(entry, dict) else None))
    return out


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
        ctx_dir = normalize(f"{build_layer.base}/{context if isinstance(context, str) else '.'}")
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
