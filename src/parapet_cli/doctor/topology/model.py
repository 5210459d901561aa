"""The typed model every deployment parser feeds: processes, how many copies of each run, and what they share."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from parapet_cli.doctor.pyindex import Module
from parapet_cli.doctor.topology.shell import WEB_SERVERS, words, words_run


@dataclass(frozen=True)
class Line:
    """A line of a command or script a process runs."""

    path: str
    line: int | None
    text: str


@dataclass
class Gunicorn:
    """A gunicorn configuration module (``gunicorn.conf.py`` or the file ``-c`` names)."""

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
class Process:
    """Something the repository starts: a container, a Compose service, a Procfile entry, an s6 or supervisord
    program; with how many copies of it run (replicas on nodes, workers in each copy)."""

    name: str
    origin: str  # "Deployment", "CronJob", "compose service", "Procfile", "Helm values", "Dockerfile", "s6 service" …
    path: str
    line: int | None
    replicas: int | None = None  # None: unknown
    many: bool = False  # autoscaled or one per node: several, however many
    kind: str = "service"  # service | init | job | cronjob
    script: list[Line] = field(default_factory=list)  # its command first, then the scripts and hooks it runs
    env: dict[str, tuple[str, Line]] = field(default_factory=dict)
    dockerfile: str | None = None  # the Dockerfile that builds its image, when known
    image: str | None = None  # the image it runs, as written
    context: str | None = None  # the directory its code comes from ("" the root); None: anywhere
    workload: str = ""  # the Kubernetes workload an autoscaler names
    scratch: bool = False  # an emptyDir or tmpfs volume is mounted
    concurrency_policy: str | None = None  # CronJobs
    in_container: Process | None = None  # s6 / supervisord programs: the container that runs them
    numprocs: int = 1  # supervisord's numprocs
    # filled from the command: the web server, its workers and its configuration
    server: str | None = None
    workers: int | None = None
    workers_at: Line | None = None
    gunicorn: Gunicorn | None = None
    preload: bool = False
    # what the parser saw, before the Dockerfile and scripts were linked
    command_line: Line | None = field(default=None, repr=False)
    keeps_entrypoint: bool = field(default=True, repr=False)

    @property
    def multi(self) -> bool | None:
        """Several copies of its command run (replicas, autoscaled, or one per node), exactly one, or unknown."""
        if self.many or (self.replicas is not None and self.replicas > 1):
            return True
        return None if self.replicas is None else False

    @property
    def multi_process(self) -> bool | None:
        """Each copy forks several workers (or supervisord starts several): True, False, or unknown (None)."""
        if self.numprocs > 1:
            return True
        if self.server is None:
            return False
        return None if self.workers is None else self.workers > 1

    @property
    def several(self) -> bool | None:
        """Several processes in all: replicas times workers."""
        return any_of([self.multi, self.multi_process])

    @property
    def command(self) -> str:
        return self.script[0].text if self.script else ""

    @property
    def web(self) -> bool:
        return self.server is not None or any(
            words_run(line.text, WEB_SERVERS) or "runserver" in words(line.text) for line in self.script
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
        if self.server is not None and self.workers is not None and self.workers > 1:
            count += f" × {self.workers} {self.server} workers"
        elif self.server is not None and self.workers is None:
            count += f" × {self.server} workers unknown"
        elif self.numprocs > 1:
            count += f" × {self.numprocs} processes"
        inside = f" in {self.in_container.origin} {self.in_container.name}" if self.in_container is not None else ""
        return f"{self.origin} {self.name}{inside} ({count})"


def any_of(values: list[bool | None]) -> bool | None:
    """True if any is True; unknown (None) if any is unknown; False if all are False (or there are none)."""
    if any(v is True for v in values):
        return True
    if any(v is None for v in values):
        return None
    return False


@dataclass(frozen=True)
class Sharing:
    """The processes that run one piece of code and so share what it holds (a file, a cache, a scheduler)."""

    processes: tuple[Process, ...]

    @property
    def multi_node(self) -> bool | None:
        """Several replicas, or several different processes (each with its own container), run it."""
        if not self.processes:
            return None
        if len({(p.in_container or p).name for p in self.processes}) > 1:
            return True
        return any_of([p.multi for p in self.processes])

    @property
    def multi_process(self) -> bool | None:
        """Several processes on one node: workers of one server, or different programs of one container."""
        if not self.processes:
            return None
        if len({p.name for p in self.processes}) > 1:
            return True
        return any_of([p.multi_process for p in self.processes])

    @property
    def multi(self) -> bool | None:
        if not self.processes:
            return None
        if len(self.processes) > 1:
            return True
        return any_of([p.several for p in self.processes])

    def describe(self) -> str:
        if not self.processes:
            return "no process found in the repository's deployment files"
        described = list(dict.fromkeys(p.describe() for p in self.processes))  # Compose variants repeat
        shown = described[:3]
        more = len(described) - len(shown)
        return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


@dataclass
class Dockerfile:
    rel: str
    env: dict[str, tuple[str, Line]] = field(default_factory=dict)
    run: list[Line] = field(default_factory=list)
    copy: list[Line] = field(default_factory=list)
    cmd: Line | None = None
    entrypoint: Line | None = None
    workdir: str | None = None

    def command(self) -> Line | None:
        parts = [p for p in (self.entrypoint, self.cmd) if p is not None]
        if not parts:
            return None
        return Line(self.rel, parts[-1].line, " ".join(p.text for p in parts))


@dataclass
class Topology:
    processes: list[Process]
    dockerfiles: dict[str, Dockerfile]
    gunicorn: Gunicorn | None  # the repository's gunicorn configuration, when there is one
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

    def sharing(self, rel: str | None = None, *, web: bool = True) -> Sharing:
        """The long-running processes that run the code in ``rel``: web servers (``web``) or every process that
        runs the application (web servers, job workers, schedulers), narrowed to those whose build context holds
        ``rel`` (a build context, the folder of the application a server loads) when some process claims it."""
        claimed = [p for p in self.services if rel is not None and p.context is not None and _under(rel, p.context)]
        # code in a folder some processes are built from: those, and those whose code is unknown
        unknown = [p for p in self.services if p.context is None]
        candidates = claimed + unknown if claimed else list(self.services)
        if web:
            chosen = [p for p in candidates if p.web]
            if not chosen and not any(p.web for p in self.services):
                chosen = candidates  # no web server found at all: every service, as before
        else:
            chosen = [p for p in candidates if p.web or _runs_python(p)]
            if not chosen:
                chosen = candidates
        return Sharing(tuple(chosen))

    def summary(self) -> str:
        if self.many:
            nodes = "autoscaled replicas"
        elif self.replicas is None:
            nodes = "replicas unknown"
        else:
            nodes = f"{self.replicas} replica{'s' if self.replicas != 1 else ''}"
        if self.replicas_at is not None:
            nodes += f" ({where(self.replicas_at)})"
        procs = "workers unknown" if self.workers is None else f"{self.workers} web worker{'s' * (self.workers != 1)}"
        if self.workers_at is not None:
            procs += f" ({where(self.workers_at)})"
        return f"{nodes}, {procs}{' [declared in the spec]' if self.declared else ''}"


_PYTHON = re.compile(r"\b(python[\d.]*|manage\.py|celery|rq|rqworker|dramatiq|huey_consumer|flask|django-admin)\b")


def _runs_python(process: Process) -> bool:
    head = process.script[:1] if process.origin != "s6 service" else process.script  # s6: the whole run script
    return any(_PYTHON.search(line.text) for line in head) or (process.dockerfile is not None and not process.script)


def _under(rel: str, directory: str) -> bool:
    return directory in ("", ".") or rel == directory or rel.startswith(directory.rstrip("/") + "/")


def logical_lines(rel: str, lines: list[str]) -> list[Line]:
    """A script's commands as ``Line``s: comments and blank lines left out, ``\\`` continuations joined, each at
    the line it starts on."""
    out: list[Line] = []
    start: int | None = None
    buf: list[str] = []
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if start is None:
            start = number
        if stripped.endswith("\\"):
            buf.append(stripped[:-1].strip())
            continue
        buf.append(stripped)
        out.append(Line(rel, start, " ".join(buf)))
        buf, start = [], None
    if buf and start is not None:
        out.append(Line(rel, start, " ".join(buf)))
    return out


def where(line: Line) -> str:
    return f"{line.path}:{line.line}" if line.line else line.path
