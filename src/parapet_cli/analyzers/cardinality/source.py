"""One parsed module and what the walk and the classification ask of it: each node's parent, scope, qualified
names and assignments, where a call is, the module's constants and the names ``in`` bounds in each function.

    Source(path, module, is_package, lines)     set up by ``run`` of its subclass ``Recognizer``

One walk of the tree (``_Walk``, batched with the walk libcst's ``ScopeProvider`` needs anyway) records every
node's parent, the module, imports and calls in the order a visitor meets them, and the names compared with ``in``
or ``not in`` in each function and the module. Scopes and qualified names are libcst's public ``ScopeProvider``
API, asked per node only when needed (``QualifiedNameProvider`` would walk the whole tree once more); positions of
calls come from ``positions.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import PurePosixPath

import libcst as cst
from libcst.metadata import (
    Assignment,
    BatchableMetadataProvider,
    ClassScope,
    CodePosition,
    FunctionScope,
    GlobalScope,
    QualifiedName,
    QualifiedNameSource,
    Scope,
    ScopeProvider,
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


def _node_types(cls: type) -> set[str]:
    """The names of ``cls`` and of every class under it: every kind of node libcst makes."""
    out = {cls.__name__}
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        out |= _node_types(sub)
    return out


_NODE_TYPES = sorted(_node_types(cst.CSTNode))
_EVENTS = (cst.Module, cst.Import, cst.ImportFrom, cst.Call, cst.Comparison)


class _Walk(BatchableMetadataProvider[object]):
    """Records, in the walk libcst's ``ExpressionContextProvider`` makes anyway, every node's parent and, in the
    order a visitor meets them, the module, imports and calls: the ``Recognizer`` replays them instead of walking
    the tree once more. And the names compared with ``in`` or ``not in`` in each function (and lambda) and in the
    module, not counting the functions nested in it (those of its lambdas count). All three are the metadata of
    the module."""

    def __init__(self, cache: object = None) -> None:
        super().__init__(cache)
        self.parents: dict[cst.CSTNode, cst.CSTNode] = {}
        self.events: list[cst.CSTNode] = []
        self.path: list[cst.CSTNode] = []
        self.guards: dict[cst.CSTNode, set[str]] = {}

    def get_visitors(self) -> Mapping[str, Callable[[cst.CSTNode], None]]:
        methods: dict[str, Callable[[cst.CSTNode], None]] = {}
        for name in _NODE_TYPES:
            methods[f"visit_{name}"] = self.enter
            methods[f"leave_{name}"] = self.leave
        return methods

    def enter(self, node: cst.CSTNode) -> None:
        path = self.path
        if path:
            self.parents[node] = path[-1]
        path.append(node)
        if isinstance(node, _EVENTS):
            if not isinstance(node, cst.Comparison):
                self.events.append(node)
            elif isinstance(node.left, cst.Name) and any(
                isinstance(t.operator, cst.In | cst.NotIn) for t in node.comparisons
            ):
                self.guard(node.left.value)

    def guard(self, name: str) -> None:
        """``name`` is compared in the lambdas around the node being entered, up to the function around it, and
        in that function, or in the module when no function is around it."""
        for ancestor in reversed(self.path[:-1]):
            if isinstance(ancestor, cst.Lambda | cst.FunctionDef):
                self.guards.setdefault(ancestor, set()).add(name)
                if isinstance(ancestor, cst.FunctionDef):
                    return
        self.guards.setdefault(self.path[0], set()).add(name)

    def leave(self, node: cst.CSTNode) -> None:
        self.path.pop()
        if not self.path:
            self.set_metadata(node, (self.events, self.parents, self.guards))


class Source(cst.MetadataDependent):
    """A parsed module with its parents, scopes, guards, constants and call positions (filled in by ``run``)."""

    METADATA_DEPENDENCIES = (ScopeProvider, _Walk)

    def __init__(self, path: str, module: str, is_package: bool, lines: Sequence[str]) -> None:
        super().__init__()
        self.path = path
        self.module = module
        self.is_package = is_package
        self.lines = lines
        self.constants: dict[str, object] = {}
        self._tree: cst.Module | None = None
        self._guards: dict[cst.CSTNode, set[str]] = {}  # the names ``in`` bounds in each function and the module
        self._parents: dict[cst.CSTNode, cst.CSTNode] = {}
        self._positions: CallPositions | None = None

    def code(self, node: cst.CSTNode) -> str:
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
        scope = self.get_metadata(ScopeProvider, node, None)
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

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        """The node's parent, as ``_Walk`` recorded it."""
        return self._parents.get(node)

    def _assignments(self, e: cst.Name) -> list[Assignment]:
        scope = self.get_metadata(ScopeProvider, e, None)
        if scope is None:
            return []
        return [a for a in scope[e.value] if isinstance(a, Assignment)]

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
