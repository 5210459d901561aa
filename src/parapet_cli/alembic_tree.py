"""A host's Alembic configuration and revision history, read statically (the host's code never runs).

Alembic's own ``ScriptDirectory`` imports every migration module to learn its ids, so it needs the
host's dependencies (SQLModel, the app's settings) and runs whatever those modules do at import. Parapet
reads the same facts from the files instead:

    configuration  ``[alembic]`` of an ini file (``%(here)s`` and the ini's defaults interpolated as
                   Alembic's ConfigParser does), else ``[tool.alembic]`` of the ``pyproject.toml`` beside
                   it (Alembic 1.16+); ``script_location`` as a path or a ``package:dir`` resource;
                   ``version_locations`` split by ``path_separator`` (or the legacy space/comma split);
                   ``recursive_version_locations``. An ini with no ``script_location`` in a directory that
                   holds ``env.py`` is Flask-Migrate's layout: that directory is the script directory.
    revisions      ``revision``, ``down_revision``, ``branch_labels`` and ``depends_on`` as module-level
                   literals (annotated or not) of every ``*.py`` Alembic would load, parsed with ``ast``.
    heads          revisions no other revision names as its ``down_revision`` (``depends_on`` does not
                   make a parent, as in Alembic).

Relative locations are resolved against the configuration file's own directory. Alembic resolves them
against the directory it is run from, and a configuration written with relative paths is run from its
own directory (``cd backend && alembic upgrade head``); reading them against the directory Parapet runs
in is what made install fail from a monorepo's root.

Every problem is a ``ConfigError`` naming the file (and line where known) with a hint.
"""

from __future__ import annotations

import ast
import configparser
import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from parapet.errors import ConfigError

INI_SECTION = "alembic"
_SOURCE_FILE = re.compile(r"(?!\.#|__init__)(.*\.py)$")  # the files Alembic loads from a versions directory
_SEPARATORS = {"space": " ", "newline": "\n", "os": os.pathsep, ":": ":", ";": ";"}
_LEGACY_SPLIT = re.compile(r", *|(?: +)")
_FIELDS = ("revision", "down_revision", "branch_labels", "depends_on")
MAX_MIGRATION_BYTES = 4_000_000  # a larger "migration" is data, not something to parse for four literals


@dataclass(frozen=True)
class AlembicConfig:
    """Where one Alembic environment lives, as its configuration file says."""

    source: Path  # the file that names script_location (alembic.ini, pyproject.toml), or Flask-Migrate's ini
    run_dir: Path  # where ``alembic`` is run: the configuration file's directory
    script_dir: Path
    version_dirs: tuple[Path, ...]
    recursive: bool = False
    ini: Path | None = None  # the ini file, when there is one (it may hold only logging and the URL)

    @property
    def env(self) -> Path:
        return self.script_dir / "env.py"


@dataclass(frozen=True)
class Revision:
    revision: str
    down_revisions: tuple[str, ...]
    path: Path


@dataclass(frozen=True)
class History:
    revisions: dict[str, Revision]
    heads: tuple[str, ...]


def _where(path: Path, line: int | None = None) -> str:
    return f"{path}:{line}" if line else str(path)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise ConfigError(f"cannot read {path}: {reason}", hint="check the file; nothing was written") from None


def _ini(path: Path) -> configparser.ConfigParser:
    """The ini as Alembic parses it: ``here`` is the file's directory, ``%`` interpolation on."""
    parser = configparser.ConfigParser(defaults={"here": path.parent.absolute().as_posix()})
    try:
        parser.read_string(_read_text(path), source=str(path))
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"{_where(path, line)}: cannot parse the Alembic configuration: {first}",
            hint="fix the ini file (Alembic reads it with Python's configparser); nothing was written",
        ) from None
    return parser


def _ini_option(parser: configparser.ConfigParser, path: Path, name: str) -> str | None:
    if not parser.has_option(INI_SECTION, name):
        return None
    try:
        return parser.get(INI_SECTION, name)
    except configparser.Error as exc:
        raise ConfigError(
            f"{path}: [{INI_SECTION}] {name}: {str(exc).splitlines()[0]}",
            hint="write %(here)s for the ini's directory and %% for a literal percent sign",
        ) from None


def toml_section(path: Path) -> dict[str, object] | None:
    """``[tool.alembic]`` of a pyproject.toml, or None."""
    try:
        data = tomllib.loads(_read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}", hint="fix the TOML syntax; nothing was written") from None
    tool = data.get("tool")
    section = tool.get("alembic") if isinstance(tool, dict) else None
    return section if isinstance(section, dict) else None


def _toml_value(path: Path, section: dict[str, object], name: str) -> object:
    here = {"here": path.parent.absolute().as_posix()}
    value = section.get(name)
    try:
        if isinstance(value, str):
            return value % here
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [v % here for v in value]
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"{path}: [tool.alembic] {name}: bad %-substitution ({exc})",
            hint="write %(here)s for the file's directory and %% for a literal percent sign",
        ) from None
    return value


def _locate(base: Path, location: str, source: Path, what: str, roots: Iterable[Path]) -> Path:
    """A directory named in the configuration: ``package.sub:dir`` (found in the tree, never imported),
    an absolute path, or a path relative to the configuration's directory."""
    if ":" in location and not re.match(r"^[A-Za-z]:[\\/]", location) and not location.startswith("/"):
        package, _, sub = location.partition(":")
        parts = package.split(".")
        for root in dict.fromkeys(roots):
            candidate = root.joinpath(*parts, *Path(sub).parts)
            if candidate.is_dir():
                return candidate
        raise ConfigError(
            f"{source}: {what} = {location}: package {package!r} with a directory {sub!r} is not in this tree",
            hint="Parapet reads the package from the repository (never imports it); "
            "write the directory's path instead, e.g. %(here)s/" + "/".join([*parts, sub]),
        )
    path = Path(location)
    resolved = path if path.is_absolute() else base / path
    if not resolved.is_dir():
        relative = "" if path.is_absolute() else f" (read relative to {base}, the configuration's directory)"
        raise ConfigError(
            f"{source}: {what} = {location}: no such directory{relative}",
            hint="point it at the directory that holds env.py, e.g. %(here)s/migrations",
        )
    return resolved


def _split_locations(raw: str, separator: str | None, source: Path) -> list[str]:
    if separator is None:
        return [x for x in _LEGACY_SPLIT.split(raw.strip()) if x]
    if separator not in _SEPARATORS:
        raise ConfigError(
            f"{source}: path_separator = {separator}: not one Alembic accepts",
            hint="use one of: space, newline, os, :, ;",
        )
    return [x.strip() for x in raw.split(_SEPARATORS[separator]) if x.strip()]


def read_config(path: Path) -> AlembicConfig:
    """The Alembic environment named by an ini file or a pyproject.toml (the ini's options first, then
    ``[tool.alembic]`` of the pyproject.toml beside it, as the ``alembic`` command reads them)."""
    if not path.is_file():
        raise ConfigError(
            f"no Alembic configuration at {path}",
            hint="pass --alembic-ini PATH (an alembic.ini or a pyproject.toml with [tool.alembic])",
        )
    base = path.parent
    roots = (base, base / "src")
    if path.name == "pyproject.toml":
        ini_path: Path | None = base / "alembic.ini" if (base / "alembic.ini").is_file() else None
        toml_path: Path | None = path
    else:
        ini_path = path
        toml_path = base / "pyproject.toml" if (base / "pyproject.toml").is_file() else None
    parser = _ini(ini_path) if ini_path is not None else None
    toml = toml_section(toml_path) if toml_path is not None else None

    def option(name: str) -> tuple[object, Path] | None:
        if parser is not None and ini_path is not None:
            value = _ini_option(parser, ini_path, name)
            if value is not None:
                return value, ini_path
        if toml is not None and toml_path is not None and name in toml:
            return _toml_value(toml_path, toml, name), toml_path
        return None

    found = option("script_location")
    if found is None:
        if ini_path is not None and (base / "env.py").is_file():  # Flask-Migrate: the ini sits in the script dir
            return AlembicConfig(ini_path, base, base, (base / "versions",), ini=ini_path)
        raise ConfigError(
            f"{path}: no script_location in [alembic]" + (" or [tool.alembic]" if toml_path else ""),
            hint="add script_location = %(here)s/migrations (the directory that holds env.py)",
        )
    location, source = found
    if not isinstance(location, str) or not location.strip():
        raise ConfigError(f"{source}: script_location must be a path", hint="e.g. %(here)s/migrations")
    script_dir = _locate(base, location.strip(), source, "script_location", roots)

    versions: list[Path] = [script_dir / "versions"]
    locations = option("version_locations")
    if locations is not None:
        raw, where = locations
        if isinstance(raw, str):
            separator = None
            for name in ("path_separator", "version_path_separator"):
                got = _ini_option(parser, where, name) if parser is not None and where == ini_path else None
                if got is not None:
                    separator = got.strip()
                    break
            items = _split_locations(raw, separator, where)
        elif isinstance(raw, list):
            items = [str(x) for x in raw]
        else:
            raise ConfigError(f"{where}: version_locations must be a list of paths", hint='e.g. ["%(here)s/a"]')
        versions = [_locate(base, item, where, "version_locations", roots) for item in items]
    recursive_raw = option("recursive_version_locations")
    recursive = recursive_raw is not None and (recursive_raw[0] is True or recursive_raw[0] == "true")
    return AlembicConfig(path, base, script_dir, tuple(versions), recursive, ini_path)


def names_alembic(path: Path) -> bool:
    """Whether an ini has an ``[alembic]`` section, or a pyproject.toml a ``[tool.alembic]`` one (cheap)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    if path.name == "pyproject.toml":
        return re.search(r"^\s*\[tool\.alembic[\].]", text, re.M) is not None
    return re.search(r"^\s*\[alembic\]\s*$", text, re.M) is not None


def _migration_files(config: AlembicConfig) -> list[Path]:
    out: list[Path] = []
    seen: set[Path] = set()
    for directory in config.version_dirs:
        if not directory.is_dir():
            continue
        for path in sorted(directory.rglob("*.py") if config.recursive else directory.iterdir()):
            folders = path.relative_to(directory).parts[:-1]
            if any(part.startswith(".") or part == "__pycache__" for part in folders):
                continue
            if _SOURCE_FILE.match(path.name) and path.is_file() and path.resolve() not in seen:
                seen.add(path.resolve())
                out.append(path)
    return out


def _literal(path: Path, node: ast.expr, name: str) -> tuple[str, ...]:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        value = ...
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(
        f"{path}:{node.lineno}:{node.col_offset + 1}: {name} is not a literal that Parapet can read without running it",
        hint=f"write {name} as a string, a tuple of strings or None, as `alembic revision` does",
    )


def read_revision(path: Path) -> Revision:
    """The ids a migration module declares at module level."""
    try:
        if path.stat().st_size > MAX_MIGRATION_BYTES:
            raise ConfigError(
                f"{path}: {path.stat().st_size} bytes, too large to be read as a migration",
                hint="move data out of the versions directory",
            )
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", hint="check the file") from None
    source = _read_text(path)
    try:
        tree = ast.parse(source, filename=str(path))
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        raise ConfigError(
            f"{_where(path, line)}: the migration does not parse: {getattr(exc, 'msg', exc)}",
            hint="fix the syntax error; nothing was written",
        ) from None
    values: dict[str, tuple[str, ...]] = {}
    for stmt in tree.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            target, value = stmt.target, stmt.value
        if isinstance(target, ast.Name) and target.id in _FIELDS and value is not None:
            values[target.id] = _literal(path, value, target.id)
    if "revision" not in values:
        raise ConfigError(
            f"{path}: no module-level revision = '...' (Alembic loads every *.py of a versions directory)",
            hint="declare revision and down_revision as literals, or move the helper module out of the directory",
        )
    if len(values["revision"]) != 1:
        raise ConfigError(f"{path}: revision must be one string", hint="e.g. revision = '3f2a1c9d0b7e'")
    return Revision(values["revision"][0], values.get("down_revision", ()), path)


def read_history(config: AlembicConfig) -> History:
    revisions: dict[str, Revision] = {}
    for path in _migration_files(config):
        found = read_revision(path)
        if found.revision in revisions:
            other = revisions[found.revision].path
            raise ConfigError(
                f"{path}: revision {found.revision!r} is also declared by {other}",
                hint="give one of them a new id (and fix the down_revision that names it)",
            )
        revisions[found.revision] = found
    parents: set[str] = set()
    for item in revisions.values():
        for down in item.down_revisions:
            if down not in revisions:
                raise ConfigError(
                    f"{item.path}: down_revision {down!r} is not a revision of {config.source}",
                    hint="fix down_revision, or list the missing directory in version_locations",
                )
            parents.add(down)
    heads = tuple(sorted(r for r in revisions if r not in parents))
    return History(revisions, heads)


def target_metadata(env: Path) -> str | None:
    """The expression ``env.py`` assigns to ``target_metadata`` at module level, unless it is ``None``."""
    try:
        tree = ast.parse(env.read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return None
    found: str | None = None
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if any(isinstance(t, ast.Name) and t.id == "target_metadata" for t in targets) and stmt.value is not None:
                value = stmt.value
                found = None if isinstance(value, ast.Constant) and value.value is None else ast.unparse(value)
    return found
