"""Python modules of the host, parsed once with ``ast``, with imports resolved to qualified names.

``from apscheduler.schedulers.background import BackgroundScheduler as BS`` makes ``BS()`` resolve to
``apscheduler.schedulers.background.BackgroundScheduler``, so checks match qualified names, not spellings.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from parapet_cli.doctor.repo import Repo


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
        for node in ast.walk(self.tree):
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
    """Every production Python module of the repository (tests, dev settings and migrations left out)."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.modules: list[Module] = []
        for rel in repo.of_kind("python"):
            if "/migrations/" in f"/{rel}" or rel.endswith("/setup.py") or rel == "setup.py":
                continue
            tree = repo.python(rel)
            if tree is not None:
                self.modules.append(Module(rel, tree, repo.lines(rel)))

    def importing(self, *prefixes: str) -> list[Module]:
        return [m for m in self.modules if m.imports_any(*prefixes)]

    def uses(self, *prefixes: str) -> bool:
        return bool(self.importing(*prefixes))

    @cached_property
    def _settings(self) -> list[Module]:
        names = {"INSTALLED_APPS", "DATABASES", "MIDDLEWARE"}
        return [m for m in self.modules if names & m._assigned.keys()]

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
