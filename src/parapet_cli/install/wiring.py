"""Step 5 of ``parapet install``: every codemod the detection calls for, chained per host file.

In order: the web app (FastAPI/Starlette middleware and ``/metrics``, Flask's ``instrument_flask``, or
Django's settings and ``urls.py``), Alembic's ``env.py`` filter, each module-level SQLAlchemy engine, and
the job system's app (Celery, procrastinate; RQ's hook is a worker class, named in a note). Several
codemods may edit one file (a single-module service): each starts from the previous one's result, and the
file is planned once. A codemod without its anchor changes nothing and adds the lines to write by hand to
``notes``. A host file that does not parse raises ``ConfigError`` before anything is written.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from parapet_cli.codemods import Style, Wiring, apps, django, hooks, ui
from parapet_cli.codemods.alembic import wire_env
from parapet_cli.install.detect import SKIP_DIRS, Detection, read_host_file

RQ_NOTE = (
    "rq: nothing to wire in code; start workers with `rq worker -w parapet.metrics.rq.ParapetWorker` "
    "(or mix parapet.metrics.rq.ParapetWorkerMixin into your worker class)"
)


_PROJECT_FILES = ("pyproject.toml", "ruff.toml", ".ruff.toml", "setup.cfg", "setup.py")
DEFAULT_LINE_LENGTH = 88  # ruff's and black's


def _line_length(project: Path) -> int:
    """The project's ``line-length`` (ruff.toml, then pyproject's ``[tool.ruff]``, then ``[tool.black]``)."""
    for name, keys in (
        ("ruff.toml", ()),
        (".ruff.toml", ()),
        ("pyproject.toml", ("tool", "ruff")),
        ("pyproject.toml", ("tool", "black")),
    ):
        try:
            data: object = tomllib.loads((project / name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        for key in keys:
            data = data.get(key) if isinstance(data, dict) else None
        value = data.get("line-length") if isinstance(data, dict) else None
        if isinstance(value, int) and 40 <= value <= 1000:
            return value
    return DEFAULT_LINE_LENGTH


def _modules(directory: Path) -> set[str]:
    try:
        children = list(directory.iterdir())
    except OSError:
        return set()
    return {
        child.name if child.is_dir() else child.stem
        for child in children
        if child.name.isidentifier() or (child.suffix == ".py" and child.stem.isidentifier())
        if child.name not in SKIP_DIRS and not child.name.startswith(".")
    }


def host_style(root: Path, path: Path) -> Style:
    """How the host's import sorter and formatter see ``path``: its project is the nearest directory up
    to the root with a pyproject.toml, ruff.toml, setup.cfg or setup.py (else the root); first-party
    modules are that directory's and its ``src/``'s (ruff's default ``src``), plus the package the file
    belongs to (ruff's ``detect-same-package``)."""
    project = root
    for parent in path.parents:
        if any((parent / name).is_file() for name in _PROJECT_FILES):
            project = parent
            break
        if parent == root:
            break
    first_party = _modules(project) | _modules(project / "src")
    package = path.parent
    while (package.parent / "__init__.py").is_file() and package != root:
        package = package.parent
    own = {package.name} if (package / "__init__.py").is_file() else set()
    return Style(first_party=frozenset(first_party | own), line_length=_line_length(project))


class _Files:
    """The pending source of every host file a codemod touched, in the order first touched."""

    def __init__(self, found: Detection, notes: list[str]) -> None:
        self.found = found
        self.notes = notes
        self.original: dict[Path, str] = {}
        self.current: dict[Path, str] = {}
        self.already: dict[Path, bool] = {}

    def source(self, path: Path) -> str:
        if path not in self.current:
            text, _ = read_host_file(path)
            self.original[path] = self.current[path] = text
            self.already[path] = True
        return self.current[path]

    def style(self, path: Path) -> Style:
        return host_style(self.found.root, path)

    def take(self, path: Path, result: Wiring, *, report: bool = True) -> None:
        self.current[path] = result.source
        self.already[path] = self.already[path] and result.already
        if report and result.manual:
            self.notes.append(
                f"{self.found.rel(path)}: no anchor found for {result.what}; add by hand:\n    "
                + "\n    ".join(result.manual)
            )

    def results(self) -> list[tuple[Path, Wiring]]:
        return [
            (path, Wiring(text, changed=text != self.original[path], already=self.already[path]))
            for path, text in self.current.items()
        ]


def _web(files: _Files) -> None:
    found = files.found
    if found.framework in ("fastapi", "starlette", "flask"):
        wire = apps.wire_flask if found.framework == "flask" else apps.wire_asgi
        for path in found.app_files[:1]:
            files.take(path, wire(files.source(path), found.rel(path), files.style(path)))
    elif found.framework == "django":
        if found.settings_file is not None:
            path = found.settings_file
            for step in django.wire_settings(files.source(path), found.rel(path)):
                files.take(path, step, report=False)
                if step.manual:
                    files.notes.append(
                        f"{found.rel(path)}: add by hand ({step.what}):\n    " + "\n    ".join(step.manual)
                    )
        if found.urls_file is not None:
            path = found.urls_file
            files.take(path, django.wire_urls(files.source(path), found.rel(path), files.style(path)))
    else:
        files.notes.append("no web framework detected: nothing wired (see docs/metrics/ for the lines to add)")


def _hooks(files: _Files, paths: list[Path], hook: hooks.Hook) -> None:
    for path in paths:
        files.take(path, hooks.wire_hook(files.source(path), files.found.rel(path), hook, files.style(path)))


FLASK_UI_NOTE = (
    "ui: a Flask (WSGI) app cannot mount Parapet's ASGI app: run `parapet serve` beside it, and route "
    "/parapet/ to it in your proxy"
)


def _ui(files: _Files, spec_path: str) -> None:
    """Step ``--with ui``: mount Parapet's web app at ``/parapet`` (FastAPI/Starlette, Django's asgi.py)."""
    found = files.found
    if found.framework in ("fastapi", "starlette"):
        for path in found.app_files[:1]:
            files.take(path, ui.wire_asgi_mount(files.source(path), found.rel(path), spec_path, files.style(path)))
    elif found.framework == "django" and found.settings_file is not None:
        asgi = found.settings_file.parent / "asgi.py"
        if asgi.is_file():
            files.take(asgi, ui.wire_django_asgi(files.source(asgi), found.rel(asgi), spec_path, files.style(asgi)))
        else:
            files.notes.append(
                f"ui: no asgi.py beside {found.rel(found.settings_file)}: serve Django under ASGI to mount Parapet "
                "at /parapet (docs/install.md, ui), or run `parapet serve` beside it"
            )
    elif found.framework == "flask":
        files.notes.append(FLASK_UI_NOTE)


def wire_ui(found: Detection, notes: list[str], spec_path: str) -> list[tuple[Path, Wiring]]:
    """``parapet gen ui``: only the mount."""
    files = _Files(found, notes)
    _ui(files, spec_path)
    return files.results()


def wire_host(
    found: Detection, notes: list[str], *, alembic_env: Path | None = None, ui_spec: str | None = None
) -> list[tuple[Path, Wiring]]:
    """Run the codemods; returns one final ``Wiring`` per touched file (``changed`` against the disk).
    ``ui_spec``: mount the web app too (``--with ui``), reading that spec path."""
    files = _Files(found, notes)
    _web(files)
    if ui_spec is not None:
        _ui(files, ui_spec)
    if alembic_env is not None:
        path = alembic_env
        files.take(path, wire_env(files.source(path), found.rel(path), files.style(path)))
    _hooks(files, found.engine_files, hooks.ENGINE)
    job_hook = {"celery": hooks.CELERY, "procrastinate": hooks.PROCRASTINATE}.get(found.job_system)
    if job_hook is not None:
        if found.job_files:
            _hooks(files, found.job_files, job_hook)
        else:
            notes.append(
                f"{found.job_system}: no app created in the code Parapet read; add by hand:\n    "
                + "\n    ".join(hooks.manual_lines(job_hook))
            )
    elif found.job_system == "rq":
        notes.append(RQ_NOTE)
    return files.results()
