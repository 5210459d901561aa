"""One parsed module and what the walk and the classification ask of it: each node's parent, scope, qualified
names and assignments, where a call is, the module's constants and the names ``in`` bounds in each function.

    Source(path, module, is_package, lines)     set up by ``run`` of its subclass ``Recognizer``

One walk of the tree (``scopes.py``) records every node's scope and parent, the module, imports and calls in
source order, and the names compared with ``in`` or ``not in`` in each function and the module. Scopes are
libcst's own scope objects, filled in as libcst's ``ScopeProvider`` fills them, so assignments and qualified
names are asked of libcst's public ``Scope`` API, per node and only when needed; positions of calls come from
``positions.py``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import PurePosixPath

import libcst as cst
from libcst.metadata import (
    Assignment,
    ClassScope,
    CodePosition,
    FunctionScope,
    GlobalScope,
    QualifiedName,
    QualifiedNameSource,
    Scope,
)

from parapet_cli.analyzers.cardinality.model import Site
from parapet_cli.analyzers.cardinality.positions import CallPositions


def module_name(path: str) -> tuple[str, bool]:
    """The dotted module of a repository-relative path (a leading ``src/`` dropped), and whether it is a package."""
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if len(parts) > 1 and parts[0] in ("src", "lib"):
        parts = parts[1:]
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def absolute(name: str, module: str, is_package: bool) -> str:
    """Resolve a relative qualified name (``.metrics.REQUESTS``) against the module it is written in."""
    if not name.startswith("."):
        return name
    dots = len(name) - len(name.lstrip("."))
    package = module.split(".") if is_package else module.split(".")[:-1]
    keep = len(package) - (dots - 1)
    base = package[: max(keep, 0)]
    rest = name[dots:]
    return ".".join([*base, rest] if rest else base)


def _tight(whitespace: cst.BaseParenthesizableWhitespace) -> bool:
    return isinstance(whitespace, cst.SimpleWhitespace) and not whitespace.value


def _plain_dotted(node: cst.CSTNode) -> str | None:
    """The code of a name or ``a.b.c`` written without brackets or spaces, read off the nodes: generating code
    costs a fraction of a millisecond per node, and most of what the analysis quotes is such a name."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        if node.lpar or node.rpar or not (_tight(node.dot.whitespace_before) and _tight(node.dot.whitespace_after)):
            return None
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name) or node.lpar or node.rpar:
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


class Source:
    """A parsed module with its parents, scopes, guards, constants and call positions (filled in by ``run``)."""

    def __init__(self, path: str, module: str, is_package: bool, lines: Sequence[str]) -> None:
        self.path = path
        self.module = module
        self.is_package = is_package
        self.lines = lines
        self.constants: dict[str, object] = {}
        self._tree: cst.Module | None = None
        self._guards: dict[cst.CSTNode, set[str]] = {}  # the names ``in`` bounds in each function and the module
        self._parents: dict[cst.CSTNode, cst.CSTNode] = {}
        self._scopes: dict[cst.CSTNode, Scope] = {}
        self._positions: CallPositions | None = None

    def code(self, node: cst.CSTNode) -> str:
        """The node's code on one line (runs of whitespace as one space)."""
        plain = _plain_dotted(node)
        if plain is not None:
            return plain
        assert self._tree is not None
        return " ".join(self._tree.code_for_node(node).split())

    def position(self, node: cst.Call) -> CodePosition:
        """Where the call starts (``positions.py``: linear in the file, public API only)."""
        assert self._positions is not None
        return self._positions.start(node)

    def site(self, node: cst.Call) -> Site:
        pos = self.position(node)
        text = self.lines[pos.line - 1].strip() if 0 < pos.line <= len(self.lines) else ""
        return Site(self.path, pos.line, pos.column + 1, text)

    def qualified_names(self, node: cst.CSTNode) -> Collection[QualifiedName]:
        """What ``QualifiedNameProvider`` gives ``node``, asked of its scope only when needed."""
        scope = self.scope_of(node)
        return set() if scope is None else scope.get_qualified_names_for(node)

    def qualified(self, node: cst.CSTNode) -> set[str]:
        names = self.qualified_names(node)
        out = set()
        for q in names:
            if q.source is QualifiedNameSource.IMPORT:
                out.add(absolute(q.name, self.module, self.is_package))
            elif q.source is QualifiedNameSource.BUILTIN:
                out.add(q.name.removeprefix("builtins."))
            else:
                out.add(q.name)
        return out

    def scope_of(self, node: cst.CSTNode) -> Scope | None:
        """The scope ``node`` is in (``scopes.py``), None for a node the walk does not visit (whitespace)."""
        return self._scopes.get(node)

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        """The node's parent, as ``scopes.py`` recorded it."""
        return self._parents.get(node)

    def _assignments(self, e: cst.Name) -> list[Assignment]:
        scope = self.scope_of(e)
        if scope is None:
            return []
        return [a for a in scope[e.value] if isinstance(a, Assignment)]

    def only_value(self, name: cst.Name) -> cst.BaseExpression | None:
        """The value ``name`` is given by its one assignment (``=``, or annotated with a value), imports aside;
        None when it has none, several, or is bound otherwise (a parameter, a ``for`` target)."""
        assigned = [a for a in self._assignments(name) if not isinstance(a.node, cst.Import | cst.ImportFrom)]
        if len(assigned) != 1:
            return None
        parent = self.parent(assigned[0].node)
        if isinstance(parent, cst.AssignTarget):
            parent = self.parent(parent)
        return parent.value if isinstance(parent, cst.Assign | cst.AnnAssign) else None

    def scoped_key(self, scope: Scope | None, name: str) -> str:
        if isinstance(scope, GlobalScope) or scope is None:
            return f"{self.module}.{name}"
        if isinstance(scope, ClassScope) and isinstance(scope.node, cst.ClassDef):
            return f"{self.module}.{scope.node.name.value}.{name}"
        if isinstance(scope, FunctionScope) and isinstance(scope.node, cst.FunctionDef):
            return f"{self.module}.<{scope.node.name.value}>.{name}"
        return f"{self.module}.<local>.{name}"

    @staticmethod
    def enclosing_class(scope: Scope | None) -> str | None:
        while scope is not None and not isinstance(scope, GlobalScope):
            if isinstance(scope, ClassScope) and isinstance(scope.node, cst.ClassDef):
                return scope.node.name.value
            scope = scope.parent
        return None

    @staticmethod
    def enclosing_class_node(scope: Scope | None) -> cst.ClassDef | None:
        while scope is not None and not isinstance(scope, GlobalScope):
            if isinstance(scope, ClassScope) and isinstance(scope.node, cst.ClassDef):
                return scope.node
            scope = scope.parent
        return None
