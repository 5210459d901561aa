"""Python modules of the host, parsed once with ``ast``, with imports resolved to qualified names.

``from apscheduler.schedulers.background import BackgroundScheduler as BS`` makes ``BS()`` resolve to
``apscheduler.schedulers.background.BackgroundScheduler``, so checks match qualified names, not spellings.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

from parapet_cli.doctor.registry import EVERY_MODULE, REGISTRY, TEXT_QUESTIONS
from parapet_cli.doctor.repo import Repo
from parapet_cli.statcache import StatCache, digest

_FORMAT = 1
T = TypeVar("T", bound=ast.AST)


def _patterns(wants: Mapping[str, re.Pattern[str] | None]) -> dict[str, re.Pattern[str]]:
    """Every registered check's pattern (so one cache serves any selection), and those of ``wants``."""
    out = {cid: c.python for cid, c in REGISTRY.items() if c.python is not None and c.python.pattern != EVERY_MODULE}
    out.update({cid: p for cid, p in wants.items() if p is not None})
    out.update({f"text:{name}": p for name, p in TEXT_QUESTIONS.items()})
    return out


@dataclass(frozen=True)
class CallSite:
    call: ast.Call
    name: str  # the qualified name of what is called
    scope: tuple[ast.AST, ...]  # enclosing classes and functions, outermost first
    main_guard: bool  # inside ``if __name__ == "__main__":``

    @property
    def function(self) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        for node in reversed(self.scope):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                return node
        return None

    @property
    def module_level(self) -> bool:
        return not any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) for n in self.scope)


@dataclass
class Module:
    rel: str
    tree: ast.Module
    lines: list[str]
    imports: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        by_type: dict[type[ast.AST], list[ast.AST]] = {}
        for node in ast.walk(self.tree):  # the one walk of the whole tree: checks ask ``nodes`` for what they need
            by_type.setdefault(type(node), []).append(node)
        self._by_type = by_type
        for node in self.nodes(ast.Import, ast.ImportFrom):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.imports[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        self.imports[top] = top
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def nodes(self, *types: type[T]) -> list[T]:
        """Every node of exactly these types (``ast.Assign``, ``ast.FunctionDef`` …), from one walk of the tree."""
        out: list[T] = []
        for kind in types:
            out.extend(self._by_type.get(kind, ()))  # type: ignore[arg-type]
        return out

    def defs(self) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
        """Every function definition, at any depth."""
        out: list[ast.FunctionDef | ast.AsyncFunctionDef] = list(self.nodes(ast.FunctionDef))
        out.extend(self.nodes(ast.AsyncFunctionDef))
        return out

    def qualname(self, node: ast.AST) -> str:
        """``a.b.c`` for a Name/Attribute chain, with the first part resolved through the imports."""
        if isinstance(node, ast.Name):
            return self.imports.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualname(node.value)
            return f"{base}.{node.attr}" if base else node.attr
        if isinstance(node, ast.Call):
            return self.qualname(node.func) + "()"
        return ""

    def imports_any(self, *prefixes: str) -> bool:
        return any(q == p or q.startswith(p + ".") for q in self.imports.values() for p in prefixes)

    def line(self, number: int) -> str:
        return self.lines[number - 1].strip() if 0 < number <= len(self.lines) else ""

    @cached_property
    def calls(self) -> list[CallSite]:
        out: list[CallSite] = []

        def visit(node: ast.AST, scope: tuple[ast.AST, ...], guard: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and _is_main_guard(child.test):
                    for stmt in child.body:
                        visit_node(stmt, scope, True)
                    for stmt in child.orelse:
                        visit_node(stmt, scope, guard)
                    continue
                defines = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda)
                visit_node(child, (*scope, child) if defines else scope, guard)

        def visit_node(node: ast.AST, scope: tuple[ast.AST, ...], guard: bool) -> None:
            if isinstance(node, ast.Call):
                out.append(CallSite(node, self.qualname(node.func), scope, guard))
            visit(node, scope, guard)

        visit(self.tree, (), False)
        return out

    def assignments(self) -> Iterator[tuple[str, ast.expr, ast.stmt]]:
        """Module-level ``NAME = value`` (and annotated) assignments, in order."""
        for stmt in self.tree.body:
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        yield target.id, stmt.value, stmt
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
                yield stmt.target.id, stmt.value, stmt

    @cached_property
    def _assigned(self) -> dict[str, tuple[ast.expr, ast.stmt]]:
        out: dict[str, tuple[ast.expr, ast.stmt]] = {}
        for target, value, stmt in self.assignments():
            out[target] = (value, stmt)  # the last assignment wins
        return out

    def assigned(self, name: str) -> tuple[ast.expr, ast.stmt] | None:
        return self._assigned.get(name)

    def functions(self) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
        return {stmt.name: stmt for stmt in self.tree.body if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef)}


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def const_str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
        return "".join(parts)
    return None


def strings_in(node: ast.AST) -> Iterator[ast.Constant]:
    """Every string literal inside ``node``."""
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            yield child


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def dict_get(node: ast.AST, key: str) -> ast.expr | None:
    if isinstance(node, ast.Dict):
        for k, v in zip(node.keys, node.values, strict=True):
            if isinstance(k, ast.Constant) and k.value == key:
                return v
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return keyword(node, key)
    return None


class PyIndex:
    """The production Python modules of the repository (tests, dev settings and migrations left out) that the
    selected checks need, parsed on first use.

    Each check says which text a module must contain for it to find anything there (``Check.python``); a module
    no selected check wants is never parsed. Which checks want a file is remembered per file in a ``StatCache``
    (with ``cache``), so an unchanged file is not even read on the next run."""

    def __init__(
        self, repo: Repo, wants: Mapping[str, re.Pattern[str] | None] | None = None, *, cache: bool = False
    ) -> None:
        self.repo = repo
        self.files = [
            rel
            for rel in repo.of_kind("python")
            if "/migrations/" not in f"/{rel}" and not rel.endswith("/setup.py") and rel != "setup.py"
        ]
        self._wants = wants
        self._cache = cache
        self._parsed: dict[str, Module | None] = {}
        self._matched: dict[str, set[str]] | None = None  # file -> ids of the checks that want it
        self._views: dict[str | None, list[Module]] = {}
        self._settings_of: dict[str | None, list[Module]] = {}
        # The check being run: ``modules`` holds what it wants (the runner sets it around each check).
        self.focus: str | None = None

    def module(self, rel: str) -> Module | None:
        """The module at ``rel``, parsed once (None when it cannot be read or parsed)."""
        if rel not in self._parsed:
            tree = self.repo.python(rel)
            self._parsed[rel] = None if tree is None else Module(rel, tree, self.repo.lines(rel))
        return self._parsed[rel]

    @property
    def modules(self) -> list[Module]:
        """The modules the check in ``focus`` wants (every module some selected check wants, without a focus)."""
        focus = self.focus
        if focus not in self._views:
            self._views[focus] = [m for rel in self._wanted(focus) if (m := self.module(rel)) is not None]
        return self._views[focus]

    def _wanted(self, focus: str | None) -> list[str]:
        wants = self._wants
        if wants is None:
            return list(self.files)
        chosen = {cid: p for cid, p in wants.items() if p is not None and (focus is None or cid == focus)}
        if any(p.pattern == EVERY_MODULE for p in chosen.values()):
            return list(self.files)
        if not chosen:
            return []
        matched = self._match_all(wants)
        return [rel for rel in self.files if chosen.keys() & matched.get(rel, set())]

    def text_matches(self, question: str) -> list[str]:
        """The production modules whose text matches the registered question ``question`` (not parsed)."""
        matched = self._match_all(self._wants or {})
        return [rel for rel in self.files if f"text:{question}" in matched.get(rel, set())]

    def _match_all(self, wants: Mapping[str, re.Pattern[str] | None]) -> dict[str, set[str]]:
        if self._matched is None:
            patterns = _patterns(wants)
            key = hashlib.sha256(repr(sorted((cid, p.pattern) for cid, p in patterns.items())).encode()).hexdigest()
            store = StatCache.load("doctor", self.repo.root, f"{_FORMAT}:{key}") if self._cache else None
            self._matched = {rel: self._matches(rel, patterns, store) for rel in self.files}
            if store is not None:
                store.save()
        return self._matched

    def _matches(self, rel: str, patterns: dict[str, re.Pattern[str]], store: StatCache | None) -> set[str]:
        """The ids of the checks whose pattern the file's text matches."""
        st: os.stat_result | None = None
        if store is not None:
            try:
                st = os.stat(os.path.join(self.repo.root, rel))  # noqa: PTH116, PTH118
            except OSError:
                st = None
            found = store.by_stat(rel, st) if st is not None else None
            if found is not None:
                return set(found.value)
        text = self.repo.text(rel)
        if text is None:
            return set()
        hexdigest = ""
        if store is not None and st is not None:
            hexdigest = digest(text.encode("utf-8", "surrogatepass"))
            found = store.by_digest(rel, hexdigest, st)
            if found is not None:
                return set(found.value)
        matched = sorted(cid for cid, pattern in patterns.items() if pattern.search(text))
        if store is not None and st is not None:
            store.put(rel, st, hexdigest, matched)
        return set(matched)

    def importing(self, *prefixes: str) -> list[Module]:
        return [m for m in self.modules if m.imports_any(*prefixes)]

    def uses(self, *prefixes: str) -> bool:
        return bool(self.importing(*prefixes))

    @property
    def _settings(self) -> list[Module]:
        if self.focus not in self._settings_of:
            names = {"INSTALLED_APPS", "DATABASES", "MIDDLEWARE"}
            self._settings_of[self.focus] = [m for m in self.modules if names & m._assigned.keys()]
        return self._settings_of[self.focus]

    def settings_modules(self) -> list[Module]:
        """Django settings modules: modules that assign INSTALLED_APPS, DATABASES or MIDDLEWARE at module level."""
        return self._settings

    def is_dev_settings(self, module: Module) -> bool:
        """A settings module with ``DEBUG = True`` as a literal: development only."""
        return module in self._settings and self.debug_literal(module)

    def debug_literal(self, module: Module) -> bool:
        """``DEBUG = True`` as a literal: a development settings module."""
        found = module.assigned("DEBUG")
        return found is not None and isinstance(found[0], ast.Constant) and found[0].value is True
