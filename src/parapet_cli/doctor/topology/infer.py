"""From the repository's files to one ``Topology``: every process, linked to the image that runs it, the scripts its
command runs, its server's workers, and the counts the spec declares."""

from __future__ import annotations

from pathlib import PurePosixPath

from parapet.spec.model import Topology as DeclaredTopology
from parapet.spec.source import SourceDocument
from parapet_cli.doctor.pyindex import PyIndex
from parapet_cli.doctor.repo import Repo, file_kind, is_dev_path
from parapet_cli.doctor.topology import compose, helm, kubernetes, paas, supervisor
from parapet_cli.doctor.topology.dockerfile import parse_dockerfile
from parapet_cli.doctor.topology.model import Dockerfile, Gunicorn, Line, Process, Topology, logical_lines
from parapet_cli.doctor.topology.servers import Servers
from parapet_cli.doctor.topology.shell import base, expand, find_file, normalize, words


def _first_mapping(repo: Repo, rel: str) -> SourceDocument | None:
    """The first YAML document of ``rel`` that is a mapping (None: no such file, or none)."""
    if not repo.exists(rel):
        return None
    return next((doc for doc in repo.yaml(rel) if isinstance(doc.data, dict)), None)


def infer(repo: Repo, py: PyIndex, declared: DeclaredTopology | None = None) -> Topology:
    """Every process the repository starts, and the web service's workers and replicas."""
    dockerfiles = {rel: parse_dockerfile(rel, text) for rel in repo.of_kind("dockerfile") if (text := repo.text(rel))}
    processes: list[Process] = []
    autoscaled: set[str] = set()
    compose_files: dict[str, SourceDocument] = {}
    for rel in repo.of_kind("yaml"):
        name = PurePosixPath(rel).name.lower()
        for doc in repo.yaml(rel):
            data = doc.data
            if not isinstance(data, dict):
                continue
            if kubernetes.is_manifest(data):
                target = kubernetes.hpa_target(doc)
                if target is not None:
                    autoscaled.add(target)
                processes += kubernetes.parse(rel, doc)
            elif name == "render.yaml":
                processes += paas.parse_render(rel, doc)
            elif compose.is_compose(name, data):
                compose_files.setdefault(rel, doc)
            elif helm.is_values(name) and repo.exists(chart := (PurePosixPath(rel).parent / "Chart.yaml").as_posix()):
                meta = [d.data.get("name") for d in repo.yaml(chart) if isinstance(d.data, dict)]
                processes += helm.parse(rel, doc, next((str(n) for n in meta if n), None))
    processes += compose.parse(compose_files, lambda rel: _first_mapping(repo, rel), repo.note)
    for rel in repo.of_kind("procfile"):
        processes += paas.parse_procfile(rel, repo.lines(rel))
    for process in processes:
        if process.workload in autoscaled:
            process.many = True
    linker = _Linker(repo, dockerfiles)
    linker.remember_builds(processes)
    for process in processes:
        linker.link(process)
    if not any(p.kind == "service" for p in processes):
        for rel, image in dockerfiles.items():
            if is_dev_path(rel) or "dev" in rel.lower():
                continue
            process = Process("image", "Dockerfile", rel, None, dockerfile=rel, command_line=image.command())
            linker.link(process)
            processes.append(process)
    processes += _programs(repo, processes, linker)
    servers = Servers(repo, py)
    for process in processes:
        servers.resolve(process)
    topo = Topology(processes=processes, dockerfiles=dockerfiles, gunicorn=_repo_gunicorn(servers, processes))
    _web_counts(topo)
    if declared is not None:
        _apply_declared(topo, declared)
    return topo


# Images that are never the service's own code: databases, brokers, proxies, mail catchers, converters.
INFRASTRUCTURE = frozenset(
    {
        "postgres",
        "postgis",
        "mysql",
        "mariadb",
        "mongo",
        "redis",
        "valkey",
        "keydb",
        "memcached",
        "rabbitmq",
        "nginx",
        "traefik",
        "caddy",
        "haproxy",
        "envoy",
        "elasticsearch",
        "opensearch",
        "minio",
        "mailpit",
        "mailhog",
        "tika",
        "gotenberg",
        "clickhouse-server",
        "kafka",
        "zookeeper",
        "localstack",
        "grafana",
        "prometheus",
        "alertmanager",
        "jaeger",
        "otel-collector",
        "opentelemetry-collector",
        "pgbouncer",
        "busybox",
        "alpine",
        "python",
        "node",
    }
)


class _Linker:
    """Links a process to the Dockerfile that builds its image, and follows the scripts its command runs."""

    def __init__(self, repo: Repo, dockerfiles: dict[str, Dockerfile]) -> None:
        self.repo = repo
        self.dockerfiles = dockerfiles
        self.scripts = sorted(repo.of_kind("shell", include_dev=True))
        self.production = [rel for rel in dockerfiles if not is_dev_path(rel) and "dev" not in rel.lower()]
        self.built: dict[str, str] = {}  # image name -> the Dockerfile a service builds it from
        self.building: set[str] = set()  # Compose files with a service that builds the repository's code

    def remember_builds(self, processes: list[Process]) -> None:
        self.building = {p.path for p in processes if p.origin == "compose service" and p.context is not None}
        for process in processes:
            if process.image and process.dockerfile in self.dockerfiles:
                self.built.setdefault(process.image.split("@", 1)[0], process.dockerfile)

    def image_dockerfile(self, process: Process) -> Dockerfile | None:
        if process.dockerfile is not None:
            return self.dockerfiles.get(process.dockerfile)
        if process.image is not None:
            found = self._by_image(process.image)
            if found is None and len(self.production) == 1 and self._maybe_ours(process):
                found = self.dockerfiles[self.production[0]]
            return found
        if process.origin in ("Procfile", "render.yaml service", "Helm values") and len(self.production) == 1:
            return self.dockerfiles[self.production[0]]
        return None

    def _by_image(self, image: str) -> Dockerfile | None:
        """The Dockerfile that builds ``image``: the one a Compose service builds under that image name, else the
        one whose folder (or the repository's, for a Dockerfile at the root) bears the image's name. An image of
        another name (``postgres:16``, ``ghcr.io/acme/shop-dashboard``) is not the repository's."""
        name = image.split("@", 1)[0]
        if name in self.built:
            return self.dockerfiles.get(self.built[name])
        last = name.rsplit("/", 1)[-1].split(":", 1)[0].lower()
        for rel in self.production:
            folder = PurePosixPath(rel).parent.name.lower() or self.repo.root.resolve().name.lower()
            if last and (folder == last or base(rel).lower() in (f"{last}.dockerfile", f"dockerfile.{last}")):
                return self.dockerfiles[rel]
        return None

    def _maybe_ours(self, process: Process) -> bool:
        """An image the repository's only Dockerfile may build (CI pushes it; a manifest runs it): not an official
        or infrastructure image, and not a Compose service beside services that build the repository's code."""
        name = (process.image or "").split("@", 1)[0]
        last = name.rsplit("/", 1)[-1].split(":", 1)[0].lower()
        owner = name.rsplit("/", 1)[0].lower() if "/" in name else ""
        if not owner or owner in ("library", "docker.io/library") or "$" in name or last in INFRASTRUCTURE:
            return False
        return not (process.origin == "compose service" and process.path in self.building)

    def link(self, process: Process) -> None:
        if process.dockerfile is not None and process.dockerfile not in self.dockerfiles:
            process.dockerfile = None
        image = self.image_dockerfile(process)
        process.dockerfile = image.rel if image is not None else None
        if image is not None:
            if process.context is None:
                process.context = PurePosixPath(image.rel).parent.as_posix().removeprefix(".")
            for key, value in image.env.items():
                process.env.setdefault(key, value)
        line = process.command_line
        if process.script:  # an s6 run script: already its lines
            for existing in list(process.script):
                self._follow(process, existing.text, 1)
            return
        if line is None or not line.text.strip():
            line = image.command() if image is not None else None
        if line is None:
            return
        process.script.append(line)
        self._follow(process, line.text, 0)
        if process.keeps_entrypoint and image is not None and image.entrypoint is not None and line.path != image.rel:
            process.script.append(image.entrypoint)
            self._follow(process, image.entrypoint.text, 0)

    def _follow(self, process: Process, text: str, depth: int) -> None:
        if depth > 2:
            return
        for word in words(text):
            target = self._script(word, process)
            if target is None or any(line.path == target for line in process.script):
                continue
            lines = self.repo.lines(target)
            process.script.extend(logical_lines(target, lines))
            self._follow(process, "\n".join(lines), depth + 1)

    def _script(self, word: str, process: Process) -> str | None:
        copied = self._copied(word, process)
        if copied is not None:
            return copied
        if "/" not in word and "." not in word and word not in ("entrypoint", "docker-entrypoint", "start"):
            return None
        name = base(word)
        if not name or file_kind(name) != "shell":
            return None
        norm = normalize(word.lstrip("./"))
        if norm in self.scripts:
            return norm
        return find_file(word, self.scripts)

    def _copied(self, word: str, process: Process) -> str | None:
        """The repository's script that the image's ``COPY src DEST`` put at ``word`` (renamed on the way)."""
        image = self.dockerfiles.get(process.dockerfile or "")
        if image is None or not word.startswith("/"):
            return None
        env = {k: v for k, (v, _) in image.env.items()}
        context = process.context or ""
        for line in image.copy:
            parts = [w for w in words(line.text) if not w.startswith("--")]
            if len(parts) != 2:
                continue
            dest = "/".join(expand(p, env) or p for p in parts[1].split("/"))
            if dest == word:
                for source in (normalize(f"{context}/{parts[0]}"), normalize(parts[0])):
                    if source in self.scripts:
                        return source
        return None


def _programs(repo: Repo, processes: list[Process], linker: _Linker) -> list[Process]:
    """supervisord programs and s6 services, once per container whose image holds them."""
    found: list[Process] = []
    for rel in repo.of_kind("supervisor"):
        found += supervisor.parse_supervisord(rel, repo.lines(rel))
    for rel in repo.of_kind("shell"):
        parent = PurePosixPath(rel).parent
        kind_file = (parent / "type").as_posix()
        kind = repo.text(kind_file) if repo.exists(kind_file) else None
        program = supervisor.s6_service(rel, repo.lines(rel), kind)
        if program is not None:
            found.append(program)
    out: list[Process] = []
    for program in found:
        containers: list[Process | None] = [
            p for p in processes if p.dockerfile is not None and _copies(linker, p.dockerfile, program.path)
        ]
        for container in containers or [None]:
            copy = Process(
                name=program.name,
                origin=program.origin,
                path=program.path,
                line=program.line,
                kind=program.kind,
                numprocs=program.numprocs,
                script=list(program.script),
                command_line=program.command_line,
                in_container=container,
            )
            if container is not None:
                copy.replicas, copy.many, copy.dockerfile = container.replicas, container.many, container.dockerfile
                copy.env = dict(container.env)
                copy.context = container.context
            linker.link(copy)
            out.append(copy)
    return out


def _copies(linker: _Linker, dockerfile: str, rel: str) -> bool:
    """The Dockerfile copies ``rel`` into its image (``COPY docker/rootfs /``, ``COPY . .``)."""
    image = linker.dockerfiles.get(dockerfile)
    if image is None:
        return False
    context = PurePosixPath(dockerfile).parent.as_posix().removeprefix(".")
    for line in image.copy:
        sources = [w for w in words(line.text) if not w.startswith("--")][:-1]
        for source in sources:
            for root in {normalize(source), normalize(f"{context}/{source}")}:
                if root in ("", ".") or rel == root or rel.startswith(root + "/"):
                    return True
    return False


def _repo_gunicorn(servers: Servers, processes: list[Process]) -> Gunicorn | None:
    for process in processes:
        if process.gunicorn is not None:
            return process.gunicorn
    return servers.default_gunicorn()


def _web_counts(topo: Topology) -> None:
    """The repository-wide summary: the most workers of any web process, the most replicas of any service."""
    web = [p for p in topo.services if p.web]
    counted = web or topo.services
    best: tuple[int, Line | None] | None = None
    unknown = False
    for process in web:
        if process.workers is None:
            unknown = True
        elif best is None or process.workers > best[0]:
            best = (process.workers, process.workers_at)
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


def _apply_declared(topo: Topology, declared: DeclaredTopology) -> None:
    topo.declared = True
    where = Line("spec", None, "topology")
    if declared.replicas is not None:
        topo.replicas, topo.many, topo.replicas_at = declared.replicas, False, where
        for process in topo.services:
            process.replicas, process.many = declared.replicas, False
    if declared.workers is not None:
        topo.workers, topo.workers_at = declared.workers, where
        for process in topo.services:
            if process.web:
                process.workers, process.workers_at = declared.workers, where
    services = dict(declared.services)
    for process in topo.processes:
        short = process.name.split("/")[0]
        if process.name in services or short in services:
            process.replicas = services.get(process.name, services.get(short))
            process.many = False
