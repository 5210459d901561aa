"""What a host repository is made of: framework, schema tool, job system, instrumentors, deployment files.

Detection reads files and never imports host code: a regex over each Python file's imports and app
constructors, plus well-known file names. Directories that are not the host's own code (virtualenvs,
``node_modules``, caches, ``.git``) are skipped, so it stays fast on a real repository.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from parapet.errors import ConfigError
from parapet_cli.alembic_tree import names_alembic

SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".venv",
        "venv",
        "env",
        "node_modules",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        "build",
        "dist",
    }
)
SKIP_DIRS_PREFIX = (".", "site-packages")

_APP = {
    "fastapi": re.compile(r"^\s*\w+\s*(?::[^=]+)?=\s*(?:fastapi\.)?FastAPI\(", re.M),
    "starlette": re.compile(r"^\s*\w+\s*(?::[^=]+)?=\s*(?:\w+\.)?Starlette\(", re.M),
    "flask": re.compile(r"^\s*\w+\s*(?::[^=]+)?=\s*(?:flask\.)?Flask\(", re.M),
}
_IMPORTS = {
    "celery": re.compile(r"^\s*(?:from|import)\s+celery\b", re.M),
    "rq": re.compile(r"^\s*(?:from|import)\s+rq\b", re.M),
    "procrastinate": re.compile(r"^\s*(?:from|import)\s+procrastinate\b", re.M),
}
_INSTRUMENTORS = {
    "prometheus-fastapi-instrumentator": re.compile(r"prometheus_fastapi_instrumentator"),
    "django-prometheus": re.compile(r"django_prometheus"),
    "starlette-exporter": re.compile(r"starlette_exporter"),
    "opentelemetry": re.compile(r"^\s*(?:from|import)\s+opentelemetry\b", re.M),
    "parapet": re.compile(r"^\s*(?:from|import)\s+parapet\.metrics\b", re.M),
}
# Objects the host creates once and Parapet instruments (codemods/hooks.py checks the imports and the anchor).
_ENGINE = re.compile(r"\bcreate_(?:async_)?engine\(")
_JOB_APPS = {"celery": re.compile(r"\bCelery\("), "procrastinate": re.compile(r"\bApp\(")}
_SETTINGS = re.compile(r"^(?:INSTALLED_APPS|MIDDLEWARE)\s*(?::[^=]+)?=", re.M)
_URLS = re.compile(r"^urlpatterns\s*(?::[^=]+)?=", re.M)
_K8S = re.compile(r"^kind:\s*(Deployment|StatefulSet|Service|Ingress|CronJob)\b", re.M)


@dataclass
class Detection:
    root: Path
    framework: str | None = None  # fastapi | starlette | flask | django
    app_files: list[Path] = field(default_factory=list)
    settings_file: Path | None = None
    urls_file: Path | None = None
    schema_tool: str = "none"  # alembic | django | none
    alembic_ini: Path | None = None  # the chosen Alembic configuration (an ini, or a pyproject.toml)
    alembic_configs: list[Path] = field(default_factory=list)  # every one found
    job_system: str = "none"  # celery | rq | procrastinate | none
    job_files: list[Path] = field(default_factory=list)  # where the Celery / procrastinate app is created
    engine_files: list[Path] = field(default_factory=list)  # where SQLAlchemy engines are created
    instrumentors: list[str] = field(default_factory=list)
    deployment: list[Path] = field(default_factory=list)
    spec: Path | None = None

    def rel(self, path: Path) -> str:
        """``path`` relative to the root, for messages and plan keys (a path outside the root, which a
        configuration can name with ``..``, is shown as it resolves)."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            resolved, root = path.resolve(), self.root.resolve()
            return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else resolved.as_posix()

    def lines(self) -> list[tuple[str, str]]:
        """(what, found) rows for ``--plan``."""
        app = ", ".join(self.rel(p) for p in self.app_files)
        if self.settings_file is not None:
            app = ", ".join(self.rel(p) for p in (self.settings_file, self.urls_file) if p is not None)
        jobs = ", ".join(self.rel(p) for p in self.job_files)
        return [
            ("framework", f"{self.framework or 'none'}" + (f" ({app})" if app else "")),
            ("schema tool", self.schema_tool + (f" ({self.rel(self.alembic_ini)})" if self.alembic_ini else "")),
            ("job system", self.job_system + (f" ({jobs})" if jobs else "")),
            ("database engines", ", ".join(self.rel(p) for p in self.engine_files) or "none"),
            ("instrumentors", ", ".join(self.instrumentors) or "none"),
            ("deployment files", ", ".join(self.rel(p) for p in self.deployment) or "none"),
            ("spec", self.rel(self.spec) if self.spec else "none (a starter parapet.yaml will be written)"),
        ]


def _walk(root: Path) -> list[Path]:
    out: list[Path] = []
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            children = sorted(directory.iterdir())
        except OSError:
            continue
        for child in children:
            if child.is_symlink() and child.is_dir():
                continue  # a linked directory is walked where it lives, if in the tree (a link may loop: a -> ..)
            if child.is_dir():
                if child.name in SKIP_DIRS or child.name.startswith(SKIP_DIRS_PREFIX) or child.name == "tests":
                    continue
                stack.append(child)
            elif child.is_file():
                out.append(child)
    return sorted(out)


def _is_deployment(name: str) -> bool:
    return (
        name == "Dockerfile"
        or name.startswith("Dockerfile.")
        or re.fullmatch(r"(docker-)?compose.*\.ya?ml", name) is not None
        or name in ("prometheus.yml", "prometheus.yaml", "alertmanager.yml", "alertmanager.yaml")
    )


def _alembic_env(path: Path) -> bool:
    """Alembic's env.py builds its own engine for migrations: not one to instrument."""
    return path.name == "env.py" and (path.parent / "script.py.mako").exists()


def detect(root: Path) -> Detection:
    found = Detection(root=root)
    spec = root / "parapet.yaml"
    found.spec = spec if spec.exists() else None
    jobs: set[str] = set()
    instrumentors: set[str] = set()
    frameworks: dict[str, list[Path]] = {}
    job_apps: dict[str, list[Path]] = {}
    for path in _walk(root):
        name = path.name
        if _is_deployment(name):
            found.deployment.append(path)
        elif (path.suffix == ".ini" or name == "pyproject.toml") and names_alembic(path):
            found.alembic_configs.append(path)
        elif path.suffix in (".yml", ".yaml") and path != spec:
            try:
                if _K8S.search(path.read_text(encoding="utf-8", errors="replace")):
                    found.deployment.append(path)
            except OSError:
                continue
        if path.suffix != ".py":
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for framework, pattern in _APP.items():
            if pattern.search(text):
                frameworks.setdefault(framework, []).append(path)
        if name.startswith("settings") and _SETTINGS.search(text) and found.settings_file is None:
            found.settings_file = path
        if name == "urls.py" and _URLS.search(text) and found.urls_file is None:
            found.urls_file = path
        jobs.update(k for k, pattern in _IMPORTS.items() if pattern.search(text))
        for job, pattern in _JOB_APPS.items():
            if _IMPORTS[job].search(text) and pattern.search(text):
                job_apps.setdefault(job, []).append(path)
        if _ENGINE.search(text) and not _alembic_env(path):
            found.engine_files.append(path)
        instrumentors.update(k for k, pattern in _INSTRUMENTORS.items() if pattern.search(text))
    if found.settings_file is not None and ((root / "manage.py").exists() or found.urls_file is not None):
        found.framework = "django"
    else:
        for framework in ("fastapi", "starlette", "flask"):
            if framework in frameworks:
                found.framework = framework
                found.app_files = frameworks[framework]
                break
    found.alembic_configs = _one_per_directory(found.alembic_configs)
    if found.alembic_configs:
        found.schema_tool = "alembic"
    elif found.framework == "django":
        found.schema_tool = "django"
    found.job_system = next((j for j in ("celery", "rq", "procrastinate") if j in jobs), "none")
    found.job_files = job_apps.get(found.job_system, [])
    found.instrumentors = sorted(instrumentors)
    return found


def _one_per_directory(configs: list[Path]) -> list[Path]:
    """An ini and the pyproject.toml beside it are one configuration (the ini's options win): keep the ini."""
    inis = {p.parent for p in configs if p.suffix == ".ini"}
    return [p for p in configs if p.suffix == ".ini" or p.parent not in inis]


def read_host_file(path: Path) -> tuple[str, bytes]:
    """A host file's text and bytes, or a one-line ConfigError (unreadable, not UTF-8)."""
    try:
        raw = path.read_bytes()
        return raw.decode("utf-8"), raw
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise ConfigError(f"cannot read {path}: {reason}", hint="check the file; nothing was written") from None
