"""The repository as the doctor sees it: the files worth reading, read once, and every read that failed.

Nothing here raises on bad input. A file that cannot be read (permissions, a FIFO, a symlink loop, bytes
that are not UTF-8, a NUL byte in a text file), YAML that does not parse, or Python that does not compile
becomes one PAR000 note (info) naming the path, and the checks carry on without it.
"""

from __future__ import annotations

import ast
import errno
import fnmatch
import functools
import io
import os
import re
import tokenize
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from parapet.errors import SpecError
from parapet.spec.source import SourceDocument, load_documents
from parapet_cli.doctor.findings import Finding, Severity
from parapet_cli.doctor.registry import note
from parapet_cli.readfile import NotRegularFile, TooLarge, read_regular

INPUT_NOTE = note(
    "PAR000",
    "unreadable-input",
    title="A file the doctor wanted to inspect could not be read",
    severity=Severity.INFO,
    why=(
        "Doctor reads the repository as it is: unreadable files, binary files where text was expected, symlink "
        "loops, YAML that does not parse and Python that does not compile are reported with their path instead "
        "of stopping the run. The checks that needed the file could not look at it, so a problem in it may be "
        "missed."
    ),
    fix="Fix or remove the file, or ignore the note in the spec (doctor: ignore: [{rule: PAR000, path: …}]).",
)

SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".parapet",
        "node_modules",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "site-packages",
        "htmlcov",
        ".idea",
        ".vscode",
        ".github",  # CI workflows: not how the service is deployed
        ".devcontainer",  # a development container
        # not production: tests and their fixtures, documentation
        "tests",
        "test",
        "testing",
        "unittests",
        "unit_tests",
        "docs",
    }
)
MAX_BYTES = 2_000_000

YAML_SUFFIXES = (".yml", ".yaml")
SHELL_SUFFIXES = (".sh", ".bash")
_TEMPLATE = re.compile(r"\{\{-?\s*(\.|include|if|range|template|with|define|end|-)|\{%-?\s*\w")
_INLINE = re.compile(r"#+\s*parapet:\s*ignore\[([A-Za-z0-9_,\s]+)\](?:\s+reason=(.*\S))?")


@dataclass(frozen=True)
class InlineSuppression:
    path: str
    line: int  # the line of the comment
    rules: tuple[str, ...]
    reason: str | None
    own_line: bool  # the comment stands alone on its line: it covers the next line


def file_kind(rel: str) -> str | None:
    """What kind of input a path is, by name; None for files the doctor never reads."""
    lower = rel.rsplit("/", 1)[-1].lower()
    if lower.endswith(".py"):
        return "python"
    if lower.endswith(YAML_SUFFIXES):
        return "yaml"
    if lower == "dockerfile" or lower.startswith("dockerfile.") or lower.endswith(".dockerfile"):
        return "dockerfile"
    if lower.endswith(SHELL_SUFFIXES) or lower in ("entrypoint", "docker-entrypoint", "start", "run"):
        return "shell"
    if lower == "procfile" or lower.startswith("procfile."):
        return "procfile"
    if lower == ".env" or lower.startswith(".env.") or lower.endswith(".env"):
        return "env"
    if "crontab" in lower or lower.endswith(".cron"):
        return "crontab"
    if lower.endswith(".conf") and ("nginx" in rel.lower() or lower in ("default.conf", "site.conf")):
        return "nginx"
    if lower in ("gunicorn.conf", "gunicorn.cfg"):
        return "python"
    if lower.endswith(".ini"):
        return "ini"
    if lower.endswith(".conf") and ("supervisor" in rel.lower()):
        return "supervisor"
    return None


@functools.lru_cache(maxsize=65536)
def is_dev_path(rel: str) -> bool:
    """Files that only configure development: dev/local/test settings and Compose overrides."""
    path = PurePosixPath(rel)
    stem = path.stem.lower()
    if path.suffix in YAML_SUFFIXES and ("compose" in stem or "docker" in stem):
        return any(word in stem for word in ("override", "dev", "local", "test", "ci"))
    if path.suffix == ".py":
        if stem.startswith(("test_", "conftest")) or stem.endswith("_test"):
            return True
        in_settings = "settings" in path.parts[:-1] or stem.startswith("settings")
        base = stem.removeprefix("settings_").removeprefix("settings.")
        return in_settings and base.startswith(("dev", "local", "test", "ci"))
    return False


class Repo:
    """The candidate files below ``root``, read lazily and at most once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.notes: list[Finding] = []
        self.files: list[str] = []
        self._text: dict[str, str | None] = {}
        self._yaml: dict[str, list[SourceDocument]] = {}
        self._python: dict[str, ast.Module | None] = {}
        self._noted: set[str] = set()
        self._kinds: dict[str, list[str]] = {}
        self._walk()

    # ------------------------------------------------------------------------------------- walking

    def _walk(self) -> None:
        def onerror(exc: OSError) -> None:
            where = Path(exc.filename) if exc.filename else self.root
            self.note(self._rel(where), f"cannot list directory: {exc.strerror or exc}")

        root = os.fspath(self.root)
        for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info"))
            # strings, not Path objects: this loop sees every file of the tree
            folder = os.path.relpath(dirpath, root).replace(os.sep, "/")
            prefix = "" if folder == "." else folder + "/"
            for name in sorted(filenames):
                rel = prefix + name
                kind = file_kind(rel)
                full = os.path.join(dirpath, name)  # noqa: PTH118
                if os.path.islink(full):  # noqa: PTH114
                    try:
                        os.stat(full)  # noqa: PTH116
                    except OSError as exc:
                        if exc.errno == errno.ELOOP:
                            self.note(rel, "symlink loop")
                        elif kind is not None:
                            self.note(rel, "broken symlink")
                        continue
                if kind is not None:
                    self.files.append(rel)
                    self._kinds.setdefault(kind, []).append(rel)

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def note(self, rel: str, message: str, line: int | None = None, column: int | None = None) -> None:
        key = f"{rel}\0{message}"
        if key in self._noted:
            return
        self._noted.add(key)
        self.notes.append(
            Finding(
                rule=INPUT_NOTE.id,
                severity=Severity.INFO,
                message=f"skipped: {message}",
                hint="the checks could not inspect this file",
                path=rel,
                line=line,
                column=column,
                subject=message,
            )
        )

    # ------------------------------------------------------------------------------------- queries

    def of_kind(self, kind: str, *, include_dev: bool = False) -> list[str]:
        files = self._kinds.get(kind, [])
        return list(files) if include_dev else [f for f in files if not is_dev_path(f)]

    def glob(self, pattern: str) -> list[str]:
        return [f for f in self.files if fnmatch.fnmatch(f, pattern) or fnmatch.fnmatch(PurePosixPath(f).name, pattern)]

    def exists(self, rel: str) -> bool:
        return (self.root / rel).is_file()

    # ------------------------------------------------------------------------------------- reading

    def text(self, rel: str) -> str | None:
        if rel in self._text:
            return self._text[rel]
        self._text[rel] = value = self._read(rel)
        return value

    def _read(self, rel: str) -> str | None:
        try:
            data, _ = read_regular(self.root / rel, MAX_BYTES)
        except NotRegularFile:
            self.note(rel, "not a regular file")
            return None
        except TooLarge:
            self.note(rel, f"larger than {MAX_BYTES // 1_000_000} MB")
            return None
        except OSError as exc:
            reason = "symlink loop" if exc.errno == errno.ELOOP else f"cannot read: {exc.strerror or exc}"
            self.note(rel, reason)
            return None
        if b"\0" in data[:8192]:
            self.note(rel, "binary file where text was expected")
            return None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            self.note(rel, f"not UTF-8 text (byte {exc.start})")
            return None

    def lines(self, rel: str) -> list[str]:
        text = self.text(rel)
        return text.splitlines() if text is not None else []

    def yaml(self, rel: str) -> list[SourceDocument]:
        if rel in self._yaml:
            return self._yaml[rel]
        docs: list[SourceDocument] = []
        text = self.text(rel)
        if text is not None and self.in_chart_templates(rel):
            self.note(rel, "a Helm template: not YAML until rendered")
        elif text is not None:
            try:
                docs = [d for d in load_documents(self.root / rel, text) if d.data is not None]
            except SpecError as exc:
                if _TEMPLATE.search(text):
                    self.note(rel, "a template (Go/Helm/Jinja syntax): not YAML until rendered")
                    self._yaml[rel] = docs
                    return docs
                loc = exc.location
                line, column = loc.line, loc.column
                count = len(text.splitlines())
                if line is not None and line > count:  # the end of the stream: point at the last line
                    line, column = max(count, 1), None
                self.note(rel, f"invalid YAML: {exc.message}", line, column)
            except (ValueError, TypeError, RecursionError) as exc:
                self.note(rel, f"invalid YAML: {exc}")
        self._yaml[rel] = docs
        return docs

    def in_chart_templates(self, rel: str) -> bool:
        """A file of a Helm chart's ``templates/``: a template as a whole. Elsewhere a file with ``{{ … }}`` inside
        its strings (a values.yaml) is parsed as YAML; only one that does not parse is taken for a template."""
        parts = PurePosixPath(rel).parts
        if "templates" in parts[:-1]:
            chart = self.root.joinpath(*parts[: parts.index("templates")], "Chart.yaml")
            return chart.is_file()
        return False

    def python(self, rel: str) -> ast.Module | None:
        if rel in self._python:
            return self._python[rel]
        tree: ast.Module | None = None
        text = self.text(rel)
        if text is not None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # invalid escape sequences in the host's code are not ours
                    tree = ast.parse(text, filename=rel)
            except SyntaxError as exc:
                self.note(rel, f"Python that does not parse: {exc.msg}", exc.lineno, exc.offset)
            except (ValueError, RecursionError, MemoryError) as exc:
                self.note(rel, f"Python that does not parse: {exc}")
        self._python[rel] = tree
        return tree

    # ------------------------------------------------------------------------------------- suppressions

    def inline_suppressions(self, rel: str) -> list[InlineSuppression]:
        """``# parapet: ignore[…] reason=…`` comments (real comments: not text inside a Python string)."""
        text = self._text.get(rel)
        if not text or "parapet:" not in text:
            return []
        lines = text.splitlines()
        out = []
        for number, col, comment in _comments(rel, text, lines):
            match = _INLINE.match(comment)
            if match:
                rules = tuple(r.strip().upper() for r in match.group(1).split(",") if r.strip())
                own = lines[number - 1][:col].strip() == ""
                out.append(InlineSuppression(rel, number, rules, match.group(2), own))
        return out


def _comments(rel: str, text: str, lines: list[str]) -> list[tuple[int, int, str]]:
    """(line, column, text) of every ``#`` comment that mentions parapet."""
    if rel.endswith(".py"):
        try:
            return [
                (tok.start[0], tok.start[1], tok.string)
                for tok in tokenize.generate_tokens(io.StringIO(text).readline)
                if tok.type == tokenize.COMMENT and "parapet:" in tok.string
            ]
        except (tokenize.TokenError, SyntaxError):
            pass
    out = []
    for number, line in enumerate(lines, start=1):
        for match in re.finditer(r"(?:^|\s)(#.*parapet:.*)$", line):
            out.append((number, match.start(1), match.group(1)))
    return out
