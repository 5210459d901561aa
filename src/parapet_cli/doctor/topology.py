"""How many processes and nodes run the service, inferred from the repository (or declared in the spec).

The multi-node checks only matter when something runs more than once. This module finds every process
the repository starts and how many copies of it run:

- Kubernetes Deployments, StatefulSets, DaemonSets, Argo Rollouts, Jobs and CronJobs (``replicas``, an
  ``HorizontalPodAutoscaler`` naming the workload, init containers run once per pod);
- Helm ``values.yaml`` (``replicaCount`` and ``autoscaling.enabled``, at the top or one level down);
- Compose services (``deploy.replicas``, ``scale``; override/dev/local files are development only);
- ``render.yaml`` (``numInstances``, ``scaling``), and Procfiles (scaled outside the repository: unknown);
- Dockerfiles: ``ENV``, ``CMD``/``ENTRYPOINT``, and the shell scripts a command runs;
- web workers from gunicorn flags and config files (``workers``, ``WEB_CONCURRENCY``), uvicorn
  ``--workers`` and uWSGI ``--processes``.

A ``topology:`` block in the spec wins over all of it. Unknown stays unknown (``None``): checks treat it as
several nodes, with their severity lowered one step.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from parapet.spec.model import Topology as DeclaredTopology
from parapet.spec.source import SourceDocument
from parapet_cli.doctor.pyindex import Module, const_str
from parapet_cli.doctor.repo import Repo, file_kind, is_dev_path

WEB_SERVERS = ("gunicorn", "uvicorn", "daphne", "hypercorn", "granian", "uwsgi", "waitress-serve")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Rollout", "DeploymentConfig")


@dataclass(frozen=True)
class Line:
    """A line of a command or script a process runs."""

    path: str
    line: int | None
    text: str


@dataclass
class Process:
    """Something the repository starts: a container, a Compose service, a Procfile entry."""

    name: str
    origin: str  # "Deployment", "StatefulSet", "CronJob", "compose", "Procfile", "Helm values", "Dockerfile" …
    path: str
    line: int | None
    replicas: int | None = None  # None: unknown
    many: bool = False  # autoscaled or one per node: several, however many
    kind: str = "service"  # service | init | job | cronjob
    script: list[Line] = field(default_factory=list)  # its command first, then the scripts that command runs
    env: dict[str, tuple[str, Line]] = field(default_factory=dict)
    dockerfile: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # origin-specific facts (pod spec, compose service …)

    @property
    def multi(self) -> bool | None:
        """Several copies (True), exactly one (False) or unknown (None)."""
        if self.many or (self.replicas is not None and self.replicas > 1):
            return True
        return None if self.replicas is None else False

    @property
    def command(self) -> str:
        return self.script[0].text if self.script else ""

    @property
    def web(self) -> bool:
        return any(words_run(line.text, WEB_SERVERS) for line in self.script) or any(
            "runserver" in words(line.text) for line in self.script
        )

    def lines_matching(self, pattern: re.Pattern[str]) -> list[Line]:
        return [line for line in self.script if pattern.search(line.text)]

    def describe(self) -> str:
        if self.many:
            count = "autoscaled" if self.origin != "DaemonSet" else "one per node"
        elif self.replicas is None:
            count = "replicas unknown"
        else:
            count = f"{self.replicas} replica{'s' if self.replicas != 1 else ''}"
        return f"{self.origin} {self.name} ({count})"


@dataclass
class Dockerfile:
    rel: str
    env: dict[str, tuple[str, Line]] = field(default_factory=dict)
    run: list[Line] = field(default_factory=list)
    copy: list[Line] = field(default_factory=list)
    cmd: Line | None = None
    entrypoint: Line | None = None

    def command(self) -> Line | None:
        parts = [p for p in (self.entrypoint, self.cmd) if p is not None]
        if not parts:
            return None
        return Line(self.rel, parts[-1].line, " ".join(p.text for p in parts))


@dataclass
class Gunicorn:
    rel: str
    module: Module
    workers: int | None = None
    workers_line: int | None = None
    workers_env: str | None = None  # the variable ``workers`` reads, if any
    workers_default: int | None = None
    preload: bool = False
    preload_line: int | None = None
    hooks: dict[str, ast.FunctionDef] = field(default_factory=dict)


@dataclass
class Topology:
    processes: list[Process]
    dockerfiles: dict[str, Dockerfile]
    gunicorn: Gunicorn | None
    workers: int | None = None
    workers_at: Line | None = None
    replicas: int | None = None
    many: bool = False
    replicas_at: Line | None = None
    declared: bool = False

    def multi_node(self) -> bool | None:
        if self.many or (self.replicas is not None and self.replicas > 1):
            return True
        return None if self.replicas is None else False

    def multi_process(self) -> bool | None:
        if self.workers is None:
            return None
        return self.workers > 1

    def multi(self) -> bool | None:
        node, proc = self.multi_node(), self.multi_process()
        if node or proc:
            return True
        if node is False and proc is False:
            return False
        return None

    @property
    def services(self) -> list[Process]:
        return [p for p in self.processes if p.kind == "service"]

    def summary(self) -> str:
        if self.many:
            nodes = "autoscaled replicas"
        elif self.replicas is None:
            nodes = "replicas unknown"
        else:
            nodes = f"{self.replicas} replica{'s' if self.replicas != 1 else ''}"
        if self.replicas_at is not None:
            nodes += f" ({_where(self.replicas_at)})"
        procs = "workers unknown" if self.workers is None else f"{self.workers} web worker{'s' * (self.workers != 1)}"
        if self.workers_at is not None:
            procs += f" ({_where(self.workers_at)})"
        return f"{nodes}, {procs}{' [declared in the spec]' if self.declared else ''}"


def _where(line: Line) -> str:
    return f"{line.path}:{line.line}" if line.line else line.path


# ------------------------------------------------------------------------------------------ shell words


def words(text: str) -> list[str]:
    """Shell words of a command line; quoted sub-commands (``sh -c "…"``) are split too."""
    try:
        parts = shlex.split(text, comments=True)
    except ValueError:
        parts = text.split()
    out: list[str] = []
    for part in parts:
        if " " in part.strip() and len(out) < 500:
            out.extend(words(part))
        else:
            out.append(part)
    return out


def _base(word: str) -> str:
    return PurePosixPath(word).name


def words_run(text: str, programs: tuple[str, ...]) -> bool:
    return any(_base(w) in programs for w in words(text))


def flag_value(tokens: list[str], *names: str) -> str | None:
    """The value of ``-w 4``, ``--workers 4``, ``--workers=4`` or ``-w4``."""
    for i, tok in enumerate(tokens):
        for name in names:
            if tok == name and i + 1 < len(tokens):
                return tokens[i + 1]
            if name.startswith("--") and tok.startswith(name + "="):
                return tok.split("=", 1)[1]
            if not name.startswith("--") and tok.startswith(name) and len(tok) > len(name) and tok[len(name)] != "-":
                return tok[len(name) :].lstrip("=")
    return None


def after(tokens: list[str], program: str) -> list[str] | None:
    """The words after ``program`` (matched by base name), or None when it is not run."""
    for i, tok in enumerate(tokens):
        if _base(tok) == program or (program == "celery" and tok == "celery.__main__"):
            return tokens[i + 1 :]
    return None


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip().strip("'\"")
    return int(text) if text.isdigit() else None


# ------------------------------------------------------------------------------------------ Dockerfiles


def parse_dockerfile(rel: str, text: str) -> Dockerfile:
    out = Dockerfile(rel)
    for number, line in _logical_lines(text):
        instr, _, rest = line.strip().partition(" ")
        instr = instr.upper()
        rest = rest.strip()
        at = Line(rel, number, rest)
        if instr == "FROM":
            out = Dockerfile(rel)
        elif instr == "ENV":
            for name, value in _env_pairs(rest):
                out.env[name] = (value, Line(rel, number, line.strip()))
        elif instr == "RUN":
            out.run.append(at)
        elif instr in ("COPY", "ADD"):
            out.copy.append(at)
        elif instr == "CMD":
            out.cmd = Line(rel, number, _exec_form(rest))
        elif instr == "ENTRYPOINT":
            out.entrypoint = Line(rel, number, _exec_form(rest))
    return out


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    start: int | None = None
    buf: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if start is None:
            start = number
        if stripped.endswith("\\"):
            buf.append(stripped[:-1])
            continue
        buf.append(stripped)
        yield start, " ".join(buf)
        buf, start = [], None
    if buf and start is not None:
        yield start, " ".join(buf)


def _exec_form(rest: str) -> str:
    if rest.startswith("["):
        try:
            parts = json.loads(rest)
        except ValueError:
            return rest
        if isinstance(parts, list):
            return shlex.join(str(p) for p in parts)
    return rest


def _env_pairs(rest: str) -> list[tuple[str, str]]:
    tokens = words(rest)
    if tokens and "=" not in tokens[0]:
        return [(tokens[0], " ".join(tokens[1:]))]  # ENV NAME value
    return [tuple(t.split("=", 1)) for t in tokens if "=" in t]  # type: ignore[misc]


# ------------------------------------------------------------------------------------------ YAML helpers


def get(data: Any, *keys: str | int) -> Any:
    for key in keys:
        if isinstance(data, dict) and isinstance(key, str):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def yline(doc: SourceDocument, *keys: Any) -> int | None:
    loc = doc.locate(tuple(keys))
    return loc.line


def _command_text(value: Any) -> str:
    if isinstance(value, list):
        return shlex.join(str(v) for v in value)
    if isinstance(value, str):
        return value
    return ""


# ------------------------------------------------------------------------------------------ inference


class _Builder:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.processes: list[Process] = []
        self.hpa_targets: dict[str, int | None] = {}
        self.dockerfiles: dict[str, Dockerfile] = {}
        for rel in repo.of_kind("dockerfile"):
            text = repo.text(rel)
            if text is not None:
                self.dockerfiles[rel] = parse_dockerfile(rel, text)
        self.scripts = {rel: rel for rel in repo.of_kind("shell", include_dev=True)}

    # -- sources

    def kubernetes(self, rel: str, doc: SourceDocument) -> None:
        data = doc.data
        kind = data.get("kind")
        name = str(get(data, "metadata", "name") or PurePosixPath(rel).stem)
        if kind == "HorizontalPodAutoscaler":
            target = get(data, "spec", "scaleTargetRef", "name")
            if isinstance(target, str):
                high = get(data, "spec", "maxReplicas")
                self.hpa_targets[target] = high if isinstance(high, int) else None
            return
        if kind == "List" and isinstance(data.get("items"), list):
            return
        if kind in WORKLOAD_KINDS:
            replicas = get(data, "spec", "replicas")
            count = replicas if isinstance(replicas, int) else (1 if replicas is None else None)
            self._pod(rel, doc, ("spec", "template", "spec"), name, str(kind), count, kind == "DaemonSet", "service")
        elif kind == "Job":
            self._pod(rel, doc, ("spec", "template", "spec"), name, "Job", 1, False, "job")
        elif kind == "CronJob":
            self._pod(
                rel, doc, ("spec", "jobTemplate", "spec", "template", "spec"), name, "CronJob", 1, False, "cronjob"
            )
        elif kind == "Pod":
            self._pod(rel, doc, ("spec",), name, "Pod", 1, False, "service")

    def _pod(
        self,
        rel: str,
        doc: SourceDocument,
        base: tuple[str, ...],
        name: str,
        origin: str,
        replicas: int | None,
        many: bool,
        kind: str,
    ) -> None:
        pod = get(doc.data, *base)
        if not isinstance(pod, dict):
            return
        for group, container_kind in (("initContainers", "init"), ("containers", kind)):
            containers = pod.get(group)
            if not isinstance(containers, list):
                continue
            for index, container in enumerate(containers):
                if not isinstance(container, dict):
                    continue
                loc = (*base, group, index)
                cname = str(container.get("name") or index)
                command = " ".join(
                    t for t in (_command_text(container.get("command")), _command_text(container.get("args"))) if t
                )
                cmd_key = "command" if "command" in container else "args"
                line = yline(doc, *loc, cmd_key) if command else yline(doc, *loc)
                process = Process(
                    name=f"{name}/{cname}" if len(containers) > 1 or container_kind == "init" else name,
                    origin=origin if container_kind != "init" else f"{origin} init container",
                    path=rel,
                    line=yline(doc, *base[:1]) if base else None,
                    replicas=replicas,
                    many=many,
                    kind=container_kind,
                    data={"doc": doc, "pod": pod, "pod_path": base, "container": container, "container_path": loc},
                )
                process.data["workload"] = name
                env = container.get("env")
                if isinstance(env, list):
                    for j, item in enumerate(env):
                        if isinstance(item, dict) and isinstance(item.get("name"), str):
                            value = item.get("value")
                            text = "" if value is None else str(value)
                            process.env[item["name"]] = (text, Line(rel, yline(doc, *loc, "env", j), item["name"]))
                self._command(
                    process, Line(rel, line, command) if command else None, keeps_entrypoint="command" not in container
                )
                self.processes.append(process)

    def compose(self, rel: str, doc: SourceDocument) -> None:
        services = get(doc.data, "services")
        if not isinstance(services, dict):
            return
        for name, svc in services.items():
            if not isinstance(svc, dict):
                continue
            deploy = svc.get("deploy")
            deploy = deploy if isinstance(deploy, dict) else {}
            replicas = deploy.get("replicas", svc.get("scale", 1))
            mode = deploy.get("mode")
            process = Process(
                name=str(name),
                origin="compose service",
                path=rel,
                line=yline(doc, "services", str(name)),
                replicas=replicas if isinstance(replicas, int) else None,
                many=mode == "global",
                data={"doc": doc, "service": svc, "service_path": ("services", str(name))},
            )
            env = svc.get("environment")
            if isinstance(env, dict):
                for k, v in env.items():
                    at = Line(rel, yline(doc, "services", str(name), "environment", str(k)), str(k))
                    process.env[str(k)] = ("" if v is None else str(v), at)
            elif isinstance(env, list):
                for j, item in enumerate(env):
                    key, _, value = str(item).partition("=")
                    process.env[key] = (value, Line(rel, yline(doc, "services", str(name), "environment", j), key))
            build = svc.get("build")
            context = build if isinstance(build, str) else get(build, "context")
            dockerfile = get(build, "dockerfile") if isinstance(build, dict) else None
            if isinstance(context, str) or isinstance(dockerfile, str):
                base = PurePosixPath(rel).parent / (context if isinstance(context, str) else ".")
                target = (base / (dockerfile if isinstance(dockerfile, str) else "Dockerfile")).as_posix()
                target = _normalize(target)
                if target in self.dockerfiles:
                    process.dockerfile = target
            parts = [_command_text(svc.get(k)) for k in ("entrypoint", "command")]
            command = " ".join(p for p in parts if p)
            key = "command" if "command" in svc else "entrypoint"
            line = yline(doc, "services", str(name), key) if command else None
            self._command(
                process, Line(rel, line, command) if command else None, keeps_entrypoint="entrypoint" not in svc
            )
            self.processes.append(process)

    def procfile(self, rel: str) -> None:
        for number, raw in enumerate(self.repo.lines(rel), start=1):
            name, sep, command = raw.partition(":")
            if not sep or raw.lstrip().startswith("#") or not name.strip().isidentifier():
                continue
            kind = "init" if name.strip() == "release" else "service"
            process = Process(name.strip(), "Procfile", rel, number, replicas=None, kind=kind)
            self._command(process, Line(rel, number, command.strip()))
            self.processes.append(process)

    def render(self, rel: str, doc: SourceDocument) -> None:
        services = get(doc.data, "services")
        if not isinstance(services, list):
            return
        for i, svc in enumerate(services):
            if not isinstance(svc, dict):
                continue
            count = svc.get("numInstances", 1)
            process = Process(
                name=str(svc.get("name") or i),
                origin="render.yaml service",
                path=rel,
                line=yline(doc, "services", i),
                replicas=count if isinstance(count, int) else None,
                many=isinstance(svc.get("scaling"), dict),
                kind="cronjob" if svc.get("type") == "cron" else "service",
            )
            command = svc.get("startCommand") or svc.get("dockerCommand")
            line = yline(doc, "services", i, "startCommand" if "startCommand" in svc else "dockerCommand")
            self._command(process, Line(rel, line, str(command)) if command else None)
            self.processes.append(process)

    def helm(self, rel: str, doc: SourceDocument) -> None:
        data = doc.data
        chart = PurePosixPath(rel).parent.name or "chart"
        candidates: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [(chart, data, ())]
        for key, value in data.items():
            if isinstance(value, dict) and ("replicaCount" in value or "replicas" in value):
                candidates.append((f"{chart}/{key}", value, (str(key),)))
        for name, values, loc in candidates:
            count = values.get("replicaCount", values.get("replicas"))
            autoscaling = values.get("autoscaling")
            if count is None and not isinstance(autoscaling, dict):
                continue
            many = isinstance(autoscaling, dict) and autoscaling.get("enabled") is True
            key = "replicaCount" if "replicaCount" in values else "replicas"
            process = Process(
                name=name,
                origin="Helm values",
                path=rel,
                line=yline(doc, *loc, key) if count is not None else yline(doc, *loc, "autoscaling"),
                replicas=count if isinstance(count, int) else None,
                many=many,
            )
            parts = [_command_text(values.get(k)) for k in ("command", "args")]
            command = " ".join(p for p in parts if p)
            self._command(process, Line(rel, yline(doc, *loc, "command"), command) if command else None)
            self.processes.append(process)

    # -- commands and the scripts they run

    def _command(self, process: Process, line: Line | None, *, keeps_entrypoint: bool = False) -> None:
        """Record what ``process`` runs: its own command, else its image's; with the image's ENTRYPOINT when kept."""
        if line is None or not line.text.strip():
            image = self._dockerfile_for(process)
            if image is not None:
                process.dockerfile = image.rel
                line = image.command()
        elif process.dockerfile is None:
            image = self._dockerfile_for(process)
            process.dockerfile = image.rel if image is not None else None
        if process.dockerfile is not None:
            for key, value in self.dockerfiles[process.dockerfile].env.items():
                process.env.setdefault(key, value)
        if line is None:
            return
        process.script.append(line)
        self._follow(process, line.text, depth=0)
        image = self.dockerfiles.get(process.dockerfile or "")
        if keeps_entrypoint and image is not None and image.entrypoint is not None and line.path != image.rel:
            process.script.append(image.entrypoint)
            self._follow(process, image.entrypoint.text, depth=0)

    def _dockerfile_for(self, process: Process) -> Dockerfile | None:
        if process.dockerfile is not None:
            return self.dockerfiles.get(process.dockerfile)
        prod = [d for rel, d in self.dockerfiles.items() if not is_dev_path(rel) and "dev" not in rel.lower()]
        return prod[0] if len(prod) == 1 else None

    def _follow(self, process: Process, text: str, depth: int) -> None:
        if depth > 2:
            return
        for word in words(text):
            target = self._script(word)
            if target is None or any(line.path == target for line in process.script):
                continue
            for number, raw in enumerate(self.repo.lines(target), start=1):
                stripped = raw.strip()
                if stripped and not stripped.startswith("#"):
                    process.script.append(Line(target, number, stripped))
            self._follow(process, "\n".join(self.repo.lines(target)), depth + 1)

    def _script(self, word: str) -> str | None:
        if "/" not in word and "." not in word and word not in ("entrypoint", "docker-entrypoint", "start"):
            return None
        name = _base(word)
        if not name or file_kind(name) != "shell":
            return None
        norm = _normalize(word.lstrip("./"))
        if norm in self.scripts:
            return norm
        hits = sorted(rel for rel in self.scripts if _base(rel) == name)
        return hits[0] if hits else None


def _normalize(path: str) -> str:
    parts: list[str] = []
    for part in PurePosixPath(path).parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part not in (".", "/"):
            parts.append(part)
    return "/".join(parts)


def infer(repo: Repo, modules: list[Module], declared: DeclaredTopology | None = None) -> Topology:
    """Every process the repository starts, and the web service's workers and replicas."""
    b = _Builder(repo)
    for rel in repo.of_kind("yaml"):
        name = PurePosixPath(rel).name.lower()
        for doc in repo.yaml(rel):
            data = doc.data
            if not isinstance(data, dict):
                continue
            if isinstance(data.get("apiVersion"), str) and isinstance(data.get("kind"), str):
                b.kubernetes(rel, doc)
            elif name == "render.yaml":
                b.render(rel, doc)
            elif isinstance(data.get("services"), dict) and ("compose" in name or _looks_compose(data)):
                b.compose(rel, doc)
            elif name in ("values.yaml", "values.yml") and repo.exists(
                (PurePosixPath(rel).parent / "Chart.yaml").as_posix()
            ):
                b.helm(rel, doc)
    for rel in repo.of_kind("procfile"):
        b.procfile(rel)
    for process in b.processes:
        workload = process.data.get("workload", process.name)
        if workload in b.hpa_targets:
            process.many = True
    if not any(p.kind == "service" for p in b.processes):
        for rel, image in b.dockerfiles.items():
            if is_dev_path(rel) or "dev" in PurePosixPath(rel).name.lower():
                continue
            process = Process("image", "Dockerfile", rel, None, replicas=None, dockerfile=rel)
            b._command(process, image.command())
            b.processes.append(process)

    gunicorn = _gunicorn(modules, b.processes)
    topo = Topology(processes=b.processes, dockerfiles=b.dockerfiles, gunicorn=gunicorn)
    _web_counts(topo)
    if declared is not None:
        _apply_declared(topo, declared)
    return topo


def _looks_compose(data: dict[str, Any]) -> bool:
    services = data["services"]
    return any(isinstance(s, dict) and ("image" in s or "build" in s) for s in services.values())


def _gunicorn(modules: list[Module], processes: list[Process]) -> Gunicorn | None:
    wanted: list[str] = []
    for process in processes:
        for line in process.script:
            rest = after(words(line.text), "gunicorn")
            if rest is not None:
                conf = flag_value(rest, "-c", "--config")
                if conf:
                    wanted.append(_normalize(conf.removeprefix("python:").lstrip("./")))
    by_rel = {m.rel: m for m in modules}
    chosen: Module | None = None
    for conf in wanted:
        hits = [m for rel, m in by_rel.items() if rel == conf or rel.endswith("/" + conf) or _base(rel) == _base(conf)]
        if hits:
            chosen = hits[0]
            break
    if chosen is None:
        named = [
            m
            for rel, m in sorted(by_rel.items())
            if re.fullmatch(r"gunicorn([._-]?(conf|config|cfg))?\.py", _base(rel))
        ]
        chosen = min(named, key=lambda m: m.rel.count("/")) if named else None
    if chosen is None:
        return None
    out = Gunicorn(chosen.rel, chosen)
    for name, value, stmt in chosen.assignments():
        if name == "workers":
            out.workers_line = stmt.lineno
            out.workers, out.workers_env, out.workers_default = _eval_workers(value, chosen)
        elif name == "preload_app" and isinstance(value, ast.Constant) and value.value is True:
            out.preload, out.preload_line = True, stmt.lineno
    out.hooks = {n: f for n, f in chosen.functions().items() if isinstance(f, ast.FunctionDef)}
    return out


def _eval_workers(value: ast.expr, module: Module) -> tuple[int | None, str | None, int | None]:
    """(a literal count, the env var read, its default); cpu_count() counts as at least 2."""
    if isinstance(value, ast.Constant) and isinstance(value.value, int):
        return value.value, None, None
    env: str | None = None
    default: int | None = None
    cpu = False
    for node in ast.walk(value):
        if isinstance(node, ast.Call):
            name = module.qualname(node.func)
            if name.endswith("cpu_count"):
                cpu = True
            if name in ("os.environ.get", "os.getenv") and node.args:
                env = const_str(node.args[0])
                if len(node.args) > 1:
                    arg = node.args[1]
                    if isinstance(arg, ast.Constant):
                        default = _int(str(arg.value))
    if cpu and default is None:
        default = 2
    return (None if env else default), env, default


def _web_counts(topo: Topology) -> None:
    web = [p for p in topo.services if p.web]
    counted = web or topo.services
    best: tuple[int, Line | None] | None = None
    unknown = False
    for process in web:
        count, at = process_workers(process, topo.gunicorn)
        if count is None:
            unknown = True
        elif best is None or count > best[0]:
            best = (count, at)
    if best is not None and not (unknown and best[0] <= 1):
        topo.workers, topo.workers_at = best
    replicas: tuple[int, Line] | None = None
    unknown = not counted
    for process in counted:
        if process.many:
            topo.many = True
            topo.replicas_at = Line(process.path, process.line, process.describe())
        if process.replicas is None:
            unknown = True
        elif replicas is None or process.replicas > replicas[0]:
            replicas = (process.replicas, Line(process.path, process.line, process.describe()))
    if replicas is not None and (not unknown or replicas[0] > 1):
        topo.replicas = replicas[0]
        if topo.replicas_at is None:
            topo.replicas_at = replicas[1]


def process_workers(process: Process, gunicorn: Gunicorn | None) -> tuple[int | None, Line | None]:
    for line in process.script:
        tokens = words(line.text)
        prefix = _inline_env(tokens)
        rest = after(tokens, "gunicorn")
        if rest is not None:
            flag = _int(flag_value(rest, "-w", "--workers"))
            if flag is not None:
                return flag, line
            if gunicorn is not None and gunicorn.workers is not None:
                return gunicorn.workers, Line(gunicorn.rel, gunicorn.workers_line, "workers")
            var = gunicorn.workers_env if gunicorn is not None and gunicorn.workers_env else "WEB_CONCURRENCY"
            found = _from_env(process, prefix, var, line)
            if found is not None:
                return found
            if gunicorn is not None and gunicorn.workers_default is not None:
                return gunicorn.workers_default, Line(gunicorn.rel, gunicorn.workers_line, "workers")
            return 1, line
        rest = after(tokens, "uvicorn")
        if rest is not None:
            flag = _int(flag_value(rest, "--workers"))
            if flag is not None:
                return flag, line
            found = _from_env(process, prefix, "WEB_CONCURRENCY", line)
            return found if found is not None else (1, line)
        rest = after(tokens, "uwsgi")
        if rest is not None:
            flag = _int(flag_value(rest, "-p", "--processes", "--workers"))
            return (flag, line) if flag is not None else (1, line)
        if (
            any(_base(t) in ("daphne", "hypercorn", "granian", "waitress-serve") for t in tokens)
            or "runserver" in tokens
        ):
            flag = _int(flag_value(tokens, "--workers", "-w"))
            return (flag, line) if flag is not None else (1, line)
    return None, None


def _from_env(process: Process, inline: dict[str, str], name: str, line: Line) -> tuple[int, Line] | None:
    """``NAME=4 gunicorn …`` on the command line, else the process's environment (manifest or Dockerfile ENV)."""
    value = _int(inline.get(name))
    if value is not None:
        return value, line
    found = process.env.get(name)
    if found is None:
        return None
    value = _int(found[0])
    return (value, found[1]) if value is not None else None


def _inline_env(tokens: list[str]) -> dict[str, str]:
    out = {}
    for tok in tokens:
        if re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", tok):
            key, _, value = tok.partition("=")
            out[key] = value
    return out


def _apply_declared(topo: Topology, declared: DeclaredTopology) -> None:
    topo.declared = True
    where = Line("spec", None, "topology")
    if declared.replicas is not None:
        topo.replicas, topo.many, topo.replicas_at = declared.replicas, False, where
        for process in topo.services:
            process.replicas, process.many = declared.replicas, False
    if declared.workers is not None:
        topo.workers, topo.workers_at = declared.workers, where
    services = dict(declared.services)
    for process in topo.processes:
        short = process.name.split("/")[0]
        if process.name in services or short in services:
            process.replicas = services.get(process.name, services.get(short))
            process.many = False
