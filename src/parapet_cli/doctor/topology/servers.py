"""Which web server a process runs and how many workers it forks, from every place servers read it:

- gunicorn: ``-w``/``--workers``, then ``GUNICORN_CMD_ARGS``, then the config file (``-c FILE``, else
  ``gunicorn.conf.py`` where it starts) with ``workers = …`` (a literal, or an environment variable and its
  default), then ``WEB_CONCURRENCY``; ``--preload``/``preload_app``; the hooks that run in the master
  (``on_starting``, ``when_ready``) or in each worker (``post_fork``, ``post_worker_init``);
- uvicorn: ``--workers``, ``UVICORN_WORKERS``, ``WEB_CONCURRENCY``;
- uWSGI: ``--processes``/``-p``/``--workers``, ``UWSGI_PROCESSES``, the ``[uwsgi]`` section of ``--ini FILE`` (or
  an ``.ini`` given as the argument) with ``processes``/``workers`` and the commands it runs (``hook-*``,
  ``exec-*``, ``attach-daemon``);
- granian: ``--workers``, ``GRANIAN_WORKERS``; hypercorn ``-w``; daphne, waitress and runserver: one process.

Variables are read from the process's environment (manifest, Compose, Dockerfile ``ENV``) and the assignments of
the scripts it runs (``export GRANIAN_WORKERS=${GRANIAN_WORKERS:-2}``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import cached_property

from parapet_cli.doctor.pyindex import Module, PyIndex, const_str
from parapet_cli.doctor.repo import Repo
from parapet_cli.doctor.topology.model import Gunicorn, Line, Process
from parapet_cli.doctor.topology.shell import (
    after,
    base,
    expand,
    find_file,
    flag_value,
    inline_env,
    script_env,
    to_int,
    words,
)

MASTER_HOOKS = ("on_starting", "when_ready", "on_reload")
WORKER_HOOKS = ("post_fork", "post_worker_init", "pre_fork")
_UWSGI_RUNS = re.compile(r"^(hook-[\w-]+|exec-[\w-]+|(smart-)?attach-daemon2?|cron2?|unique-cron)$")
_GUNICORN_CONF = re.compile(r"gunicorn([._-]?(conf|config|cfg))?\.py")


@dataclass
class Servers:
    """Reads server configuration files once, for every process that names them."""

    repo: Repo
    py: PyIndex
    _gunicorn: dict[str, Gunicorn | None] = field(default_factory=dict)

    @cached_property
    def _files(self) -> frozenset[str]:
        return frozenset(self.py.files)

    def resolve(self, process: Process) -> None:
        """Set ``process``'s server, workers (and where the count comes from), gunicorn config and preload, and
        append the commands its server's configuration runs to its script."""
        env = script_env(
            ((line.text, line) for line in process.script),
            {k: (v, at) for k, (v, at) in process.env.items()},
        )
        for line in list(process.script):
            tokens = words(line.text)
            local = {**env, **{k: (v, line) for k, v in inline_env(tokens).items()}}
            for server, reader in (
                ("gunicorn", self._gunicorn_workers),
                ("uvicorn", _uvicorn),
                ("uwsgi", self._uwsgi),
                ("granian", _granian),
                ("hypercorn", _hypercorn),
            ):
                rest = after(tokens, server)
                if rest is not None:
                    process.server = server
                    process.workers, process.workers_at = reader(process, rest, local, line)
                    if process.context is None:
                        process.context = self._entry_dir(rest)
                    return
            if any(base(t) in ("daphne", "waitress-serve") for t in tokens) or "runserver" in tokens:
                process.server = next((base(t) for t in tokens if base(t) in ("daphne", "waitress-serve")), "runserver")
                process.workers, process.workers_at = 1, line
                return
        for line in list(process.script):
            if self._started_from_python(process, line, env):
                return

    def _entry_dir(self, rest: list[str]) -> str | None:
        """The folder of the application a server loads (``dashboard.main:app`` in ``dashboard/main.py``), when it
        lies in a folder of its own: that process runs the code under it."""
        for word in rest:
            module = word.split(":", 1)[0] if ":" in word else word
            if word.startswith("-") or not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+", module):
                continue
            path = module.replace(".", "/")
            for rel in (f"{path}.py", f"{path}/__init__.py"):
                if rel in self._files:
                    top = rel.split("/", 1)[0]
                    return top if "/" in rel else None
        return None

    def _started_from_python(self, process: Process, line: Line, env: dict[str, tuple[str, Line]]) -> bool:
        """``python app/main.py`` (or ``python -m app.main``) whose module calls ``uvicorn.run(…, workers=…)``."""
        tokens = words(line.text)
        rest = next((tokens[i + 1 :] for i, t in enumerate(tokens) if re.fullmatch(r"python[\d.]*", base(t))), None)
        if not rest:
            return False
        if rest[0] == "-m" and len(rest) > 1:
            target = rest[1].replace(".", "/") + ".py"
        elif rest[0].endswith(".py"):
            target = rest[0]
        else:
            return False
        rel = find_file(target, self.py.files, near=process.context)
        module = self.py.module(rel) if rel is not None else None
        if module is None:
            return False
        for site in module.calls:
            if site.name != "uvicorn.run":
                continue
            process.server = "uvicorn"
            at = Line(module.rel, site.call.lineno, module.line(site.call.lineno))
            given = next((k.value for k in site.call.keywords if k.arg == "workers"), None)
            if given is None:
                process.workers, process.workers_at = 1, at
            elif isinstance(given, ast.Constant) and isinstance(given.value, int):
                process.workers, process.workers_at = given.value, at
            else:  # computed (settings.WORKERS): what the environment sets, else unknown
                process.workers, process.workers_at = next(
                    (c for c in (_count(env, "UVICORN_WORKERS"), _count(env, "WEB_CONCURRENCY")) if c), (None, at)
                )
            if process.context is None and "/" in module.rel:
                process.context = module.rel.split("/", 1)[0]
            return True
        return False

    # -- gunicorn

    def gunicorn_conf(self, rel: str) -> Gunicorn | None:
        if rel not in self._gunicorn:
            module = self.py.module(rel) if rel in self.py.files else None
            self._gunicorn[rel] = None if module is None else read_gunicorn(module)
        return self._gunicorn[rel]

    def default_gunicorn(self, near: str | None = None) -> Gunicorn | None:
        """``gunicorn.conf.py`` (or a similarly named module) where the process starts, else the shallowest one."""
        named = [rel for rel in self.py.files if _GUNICORN_CONF.fullmatch(base(rel))]
        if near:
            inside = [rel for rel in named if rel.startswith(near + "/")]
            named = inside or named
        if not named:
            return None
        return self.gunicorn_conf(min(named, key=lambda rel: (rel.count("/"), rel)))

    def _gunicorn_workers(
        self, process: Process, rest: list[str], env: dict[str, tuple[str, Line]], line: Line
    ) -> tuple[int | None, Line | None]:
        values = {k: v for k, (v, _) in env.items()}
        extra = words(values.get("GUNICORN_CMD_ARGS", ""))
        conf_word = flag_value(rest, "-c", "--config") or flag_value(extra, "-c", "--config")
        conf: Gunicorn | None = None
        if conf_word:
            found = find_file(conf_word, self.py.files, near=process.context)
            conf = self.gunicorn_conf(found) if found else None
        else:
            conf = self.default_gunicorn(process.context)
        process.gunicorn = conf
        process.preload = "--preload" in rest or "--preload" in extra or (conf is not None and conf.preload)
        if conf is not None:
            for name in (*MASTER_HOOKS, *WORKER_HOOKS):
                hook = conf.hooks.get(name)
                if hook is not None:
                    for number in range(hook.lineno, (hook.end_lineno or hook.lineno) + 1):
                        text = conf.module.line(number)
                        if text and not text.startswith("#"):
                            process.script.append(Line(conf.rel, number, text))
        flag = _flag(rest, ("-w", "--workers"), env, line)
        if flag is not None:
            return flag
        if extra:
            flag = _flag(extra, ("-w", "--workers"), env, env["GUNICORN_CMD_ARGS"][1])
            if flag is not None:
                return flag
        if conf is not None:
            at = Line(conf.rel, conf.workers_line, "workers")
            if conf.workers is not None:
                return conf.workers, at
            if conf.workers_env:
                found_env = _count(env, conf.workers_env)
                if found_env is not None:
                    return found_env
            if conf.workers_default is not None:
                return conf.workers_default, at
        return _count(env, "WEB_CONCURRENCY") or (1, line)

    # -- uWSGI

    def _uwsgi(
        self, process: Process, rest: list[str], env: dict[str, tuple[str, Line]], line: Line
    ) -> tuple[int | None, Line | None]:
        values = {k: v for k, (v, _) in env.items()}
        ini_word = flag_value(rest, "--ini") or next((w for w in rest if w.endswith(".ini")), None)
        settings: dict[str, tuple[str, Line]] = {}
        if ini_word:
            found = find_file(ini_word.split(":", 1)[0], self.repo.of_kind("ini", include_dev=True))
            if found is not None:
                settings = _uwsgi_ini(found, self.repo.lines(found))
                for key, (_, at) in settings.items():
                    if _UWSGI_RUNS.match(key.split("#", 1)[0]):
                        process.script.append(at)
        flag = _flag(rest, ("-p", "--processes", "--workers"), env, line)
        if flag is not None:
            return flag
        for name in ("UWSGI_PROCESSES", "UWSGI_WORKERS"):
            got = _count(env, name)
            if got is not None:
                return got
        for key in ("processes", "workers", "p"):
            if key in settings:
                value, at = settings[key]
                count = to_int(expand(value, values))
                if count is not None:
                    return count, at
        return 1, line


def _flag(
    tokens: list[str], names: tuple[str, ...], env: dict[str, tuple[str, Line]], line: Line
) -> tuple[int, Line] | None:
    """The count a flag gives (``--workers 4``, ``--workers $WORKERS``), with where it is written or set."""
    word = flag_value(tokens, *names)
    value = to_int(expand(word, {k: v for k, (v, _) in env.items()}))
    if word is None or value is None:
        return None
    var = re.match(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)", word.strip("'\""))
    if var and var.group(1) in env and to_int(env[var.group(1)][0]) == value:
        return value, env[var.group(1)][1]
    return value, line


def _count(env: dict[str, tuple[str, Line]], name: str) -> tuple[int, Line] | None:
    found = env.get(name)
    if found is None:
        return None
    value = to_int(found[0])
    return (value, found[1]) if value is not None else None


def _uvicorn(
    process: Process, rest: list[str], env: dict[str, tuple[str, Line]], line: Line
) -> tuple[int | None, Line | None]:
    return (
        _flag(rest, ("--workers",), env, line)
        or _count(env, "UVICORN_WORKERS")
        or _count(env, "WEB_CONCURRENCY")
        or (1, line)
    )


def _granian(
    process: Process, rest: list[str], env: dict[str, tuple[str, Line]], line: Line
) -> tuple[int | None, Line | None]:
    return _flag(rest, ("--workers",), env, line) or _count(env, "GRANIAN_WORKERS") or (1, line)


def _hypercorn(
    process: Process, rest: list[str], env: dict[str, tuple[str, Line]], line: Line
) -> tuple[int | None, Line | None]:
    return _flag(rest, ("-w", "--workers"), env, line) or (1, line)


def _uwsgi_ini(rel: str, lines: list[str]) -> dict[str, tuple[str, Line]]:
    """The ``[uwsgi]`` section: the first value of each key (repeated keys get ``#n``), with its line."""
    out: dict[str, tuple[str, Line]] = {}
    section = "uwsgi"
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith(("#", ";")):
            continue
        if text.startswith("[") and text.endswith("]"):
            section = text[1:-1].strip()
            continue
        key, sep, value = text.partition("=")
        if not sep or section != "uwsgi":
            continue
        key = key.strip()
        name, n = key, 1
        while name in out:
            n += 1
            name = f"{key}#{n}"
        out[name] = (value.strip(), Line(rel, number, text))
    return out


def read_gunicorn(module: Module) -> Gunicorn:
    out = Gunicorn(module.rel, module)
    for name, value, stmt in module.assignments():
        if name == "workers":
            out.workers_line = stmt.lineno
            out.workers, out.workers_env, out.workers_default = _eval_workers(value, module)
        elif name == "preload_app" and isinstance(value, ast.Constant) and value.value is True:
            out.preload, out.preload_line = True, stmt.lineno
    out.hooks = {n: f for n, f in module.functions().items() if isinstance(f, ast.FunctionDef)}
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
                        default = to_int(str(arg.value))
        elif isinstance(node, ast.Subscript) and module.qualname(node.value) == "os.environ":
            env = const_str(node.slice)
    if cpu and default is None:
        default = 2
    return (None if env else default), env, default
