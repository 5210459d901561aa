"""The scope tables of one parsed module, in one walk that builds no node: what libcst's ``ScopeProvider`` answers,
for a fraction of its cost, plus each node's parent, the calls and imports in source order and the ``in`` guards.

    tables = ScopeTables.of(module)
    tables.scopes[node] -> Scope      tables.parents[node] -> node      tables.events      tables.guards

libcst's ``ScopeProvider`` and the ``ExpressionContextProvider`` it depends on each visit the whole tree with
``CSTNode.visit``, which rebuilds every node it passes (a dataclass built and validated per node, whitespace
included): on a metric-dense tree that was three quarters of the analysis. This walk reads the nodes where they
are, skipping whitespace, brackets and operators, and fills in libcst's own public scope objects
(``GlobalScope``, ``FunctionScope``, ``ClassScope``, ``ComprehensionScope``, ``Access``) exactly as libcst's
``ScopeVisitor`` does, in the same order: so ``scope[name]``, ``Assignment.node`` and
``scope.get_qualified_names_for(node)`` give libcst's answers. What it does as libcst does:

- a name is stored (an assignment) where ``ExpressionContextProvider`` says STORE: the targets of ``=``,
  annotated and augmented assignments, ``:=``, ``for`` and comprehension targets and ``as`` names, through
  tuples, lists and starred elements, never through an attribute or a subscript; every other name is an access;
- functions, lambdas, classes and comprehensions open their scopes, visited in ``ScopeVisitor``'s order (a
  function's parameters and body, then its decorators and return annotation; a parameter's default and
  annotation in the enclosing scope; a comprehension's first iterable outside it); ``global`` and ``nonlocal``
  redirect assignments; imports assign every dotted prefix; each node's scope is the one it is left in;
- the order of assignments and accesses within a scope (``Scope._assignment_count``, which libcst's ``Access``
  reads when it is made: the one private name used, since ``ScopeVisitor`` keeps that counter there) advances
  where ``ScopeVisitor`` advances it, so an access sees the assignments libcst says it sees;
- an access inside an attribute chain is the longest dotted prefix the scope assigns (``a.b`` of ``a.b.c``).

What it leaves out, since no question the recogniser asks depends on it: strings in annotations are not parsed
as code (libcst parses them to record accesses of the string node itself), ``typing.cast``/``NewType`` do not
change the walk (libcst only marks their arguments as type hints), and accesses are not recorded on the
assignments they reach (``Assignment.references``).

The calls and imports are recorded in source order (``events``, the order positions.py pairs with ``ast``'s
calls), although the walk meets a function's decorators after its body: the parts visited out of order collect
their events apart and are put back in source order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import libcst as cst
from libcst.metadata import Access, ClassScope, ComprehensionScope, FunctionScope, GlobalScope, Scope

# The fields of each node that hold code, in the order libcst's ``_visit_and_replace_children`` visits them
# (source order); whitespace, brackets, commas and operators are left out. ``tests/cardinality/test_scopes.py``
# derives this table again from the installed libcst and fails when it differs.
FIELDS: dict[str, tuple[str, ...]] = {
    "AnnAssign": ("target", "annotation", "value"),
    "Annotation": ("annotation",),
    "Arg": ("keyword", "value"),
    "AsName": ("name",),
    "Assert": ("test", "msg"),
    "Assign": ("targets", "value"),
    "AssignTarget": ("target",),
    "Attribute": ("value", "attr"),
    "AugAssign": ("target", "value"),
    "Await": ("expression",),
    "BinaryOperation": ("left", "right"),
    "BooleanOperation": ("left", "right"),
    "Call": ("func", "args"),
    "ClassDef": ("decorators", "name", "bases", "keywords", "body"),
    "CompFor": ("target", "iter", "ifs", "inner_for_in"),
    "CompIf": ("test",),
    "Comparison": ("left", "comparisons"),
    "ComparisonTarget": ("comparator",),
    "ConcatenatedString": ("left", "right"),
    "Decorator": ("decorator",),
    "Del": ("target",),
    "Dict": ("elements",),
    "DictComp": ("key", "value", "for_in"),
    "DictElement": ("key", "value"),
    "Element": ("value",),
    "Else": ("body",),
    "ExceptHandler": ("type", "name", "body"),
    "ExceptStarHandler": ("type", "name", "body"),
    "Expr": ("value",),
    "Finally": ("body",),
    "For": ("target", "iter", "body", "orelse"),
    "FormattedString": ("parts",),
    "FormattedStringExpression": ("expression", "format_spec"),
    "From": ("item",),
    "FunctionDef": ("decorators", "name", "params", "returns", "body"),
    "GeneratorExp": ("elt", "for_in"),
    "Global": ("names",),
    "If": ("test", "body", "orelse"),
    "IfExp": ("body", "test", "orelse"),
    "Import": ("names",),
    "ImportAlias": ("name", "asname"),
    "ImportFrom": ("module", "names"),
    "IndentedBlock": ("body",),
    "Index": ("value",),
    "Lambda": ("params", "body"),
    "List": ("elements",),
    "ListComp": ("elt", "for_in"),
    "Match": ("subject", "cases"),
    "MatchAs": ("pattern", "name"),
    "MatchCase": ("pattern", "guard", "body"),
    "MatchClass": ("cls", "patterns", "kwds"),
    "MatchKeywordElement": ("key", "pattern"),
    "MatchList": ("patterns",),
    "MatchMapping": ("elements", "rest"),
    "MatchMappingElement": ("key", "pattern"),
    "MatchOr": ("patterns",),
    "MatchOrElement": ("pattern",),
    "MatchSequenceElement": ("value",),
    "MatchSingleton": ("value",),
    "MatchStar": ("name",),
    "MatchTuple": ("patterns",),
    "MatchValue": ("value",),
    "Module": ("body",),
    "NameItem": ("name",),
    "NamedExpr": ("target", "value"),
    "Nonlocal": ("names",),
    "Param": ("name", "annotation", "default"),
    "Parameters": ("posonly_params", "params", "star_arg", "kwonly_params", "star_kwarg"),
    "Raise": ("exc", "cause"),
    "Return": ("value",),
    "Set": ("elements",),
    "SetComp": ("elt", "for_in"),
    "SimpleStatementLine": ("body",),
    "SimpleStatementSuite": ("body",),
    "Slice": ("lower", "upper", "step"),
    "StarredDictElement": ("value",),
    "StarredElement": ("value",),
    "Subscript": ("value", "slice"),
    "SubscriptElement": ("slice",),
    "Try": ("body", "handlers", "orelse", "finalbody"),
    "TryStar": ("body", "handlers", "orelse", "finalbody"),
    "Tuple": ("elements",),
    "UnaryOperation": ("expression",),
    "While": ("test", "body", "orelse"),
    "With": ("items", "body"),
    "WithItem": ("item", "asname"),
    "Yield": ("value",),
}
_FIELDS: dict[type, tuple[str, ...]] = {getattr(cst, name): fields for name, fields in FIELDS.items()}

# The nodes whose leaving advances the order of assignments in their scope (libcst's ``_ASSIGNMENT_LIKE_NODES``).
_ASSIGNMENT_LIKE = frozenset(
    {
        cst.AnnAssign,
        cst.AsName,
        cst.Assign,
        cst.AugAssign,
        cst.ClassDef,
        cst.CompFor,
        cst.FunctionDef,
        cst.Global,
        cst.Import,
        cst.ImportFrom,
        cst.NamedExpr,
        cst.Nonlocal,
        cst.Parameters,
        cst.WithItem,
    }
)
# A stored target stays stored through these (``a, *b = …``); an attribute's or a subscript's parts are loaded.
_STORE_THROUGH = frozenset({cst.Tuple, cst.List, cst.Element, cst.StarredElement})
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


def dotted_names(node: cst.BaseExpression) -> Iterator[tuple[str, cst.BaseExpression]]:
    """``a.b.c`` as ("a.b.c", node), ("a.b", …), ("a", …); a call in the chain stands for what it calls (libcst's
    own rule for the access an attribute chain makes)."""
    if isinstance(node, cst.Name):
        yield node.value, node
        return
    if not isinstance(node, cst.Attribute):
        return
    value = node.value
    if isinstance(value, cst.Call):
        if isinstance(value.func, cst.Attribute | cst.Name):
            yield from dotted_names(value.func)
        return
    if isinstance(value, cst.Attribute | cst.Name):
        inner = dotted_names(value)
        first = next(inner, None)
        if first is None:
            return
        yield f"{first[0]}.{node.attr.value}", node
        yield first
        yield from inner


class ScopeTables:
    """Scopes, parents, events and guards of one module (``ScopeTables.of(module)``)."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self.scope: Scope = GlobalScope()
        self.scopes: dict[cst.CSTNode, Scope] = {}
        self.parents: dict[cst.CSTNode, cst.CSTNode] = {}
        self.events: list[cst.CSTNode] = [module]  # the module, then imports and calls in source order
        self.guards: dict[cst.CSTNode, set[str]] = {}  # names compared with ``in`` per function, lambda, module
        self._deferred: list[tuple[Access, cst.Attribute | None]] = []
        self._top_attribute: list[cst.Attribute | None] = [None]
        self._functions: list[cst.CSTNode] = []  # the functions and lambdas around the node being visited
        self._handlers: dict[type, Callable[[cst.CSTNode, bool], None]] = {
            cst.Name: self._name,  # type: ignore[dict-item]
            cst.Attribute: self._attribute,  # type: ignore[dict-item]
            cst.Call: self._call,  # type: ignore[dict-item]
            cst.Arg: self._arg,  # type: ignore[dict-item]
            cst.Import: self._import,  # type: ignore[dict-item]
            cst.ImportFrom: self._import,  # type: ignore[dict-item]
            cst.FunctionDef: self._function,  # type: ignore[dict-item]
            cst.Lambda: self._lambda,  # type: ignore[dict-item]
            cst.Param: self._param,  # type: ignore[dict-item]
            cst.ClassDef: self._class,  # type: ignore[dict-item]
            cst.Global: self._global,  # type: ignore[dict-item]
            cst.Nonlocal: self._global,  # type: ignore[dict-item]
            cst.For: self._for,  # type: ignore[dict-item]
            cst.CompFor: self._comp_for,  # type: ignore[dict-item]
            cst.AssignTarget: self._store_field("target"),
            cst.AnnAssign: self._store_field("target"),
            cst.AugAssign: self._store_field("target"),
            cst.NamedExpr: self._store_field("target"),
            cst.AsName: self._store_field("name"),
            cst.Comparison: self._comparison,  # type: ignore[dict-item]
            **dict.fromkeys(_COMPREHENSIONS, self._comprehension),  # type: ignore[arg-type]
        }

    @classmethod
    def of(cls, module: cst.Module) -> ScopeTables:
        tables = cls(module)
        tables._visit(module, None, False)
        tables._infer_accesses()
        return tables

    # ------------------------------------------------------------------------------------------ the walk

    def _visit(self, node: cst.CSTNode, parent: cst.CSTNode | None, store: bool) -> None:
        if parent is not None:
            self.parents[node] = parent
        kind = type(node)
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(node, store)
        else:
            self._children(node, store and kind in _STORE_THROUGH)
        self.scopes[node] = self.scope  # as ScopeVisitor.on_leave
        if kind in _ASSIGNMENT_LIKE:
            self.scope._assignment_count += 1

    def _children(self, node: cst.CSTNode, store: bool, fields: tuple[str, ...] | None = None) -> None:
        for name in _FIELDS.get(type(node), ()) if fields is None else fields:
            value = getattr(node, name)
            if isinstance(value, cst.CSTNode):
                self._visit(value, node, store)
            elif isinstance(value, tuple | list):
                for child in value:
                    self._visit(child, node, store)

    def _apart(self, visit: Callable[[], None]) -> list[cst.CSTNode]:
        """The events ``visit`` meets, kept apart to be put back in source order."""
        saved, self.events = self.events, []
        try:
            visit()
            return self.events
        finally:
            self.events = saved

    def _store_field(self, field: str) -> Callable[[cst.CSTNode, bool], None]:
        """A node whose ``field`` is stored into (``x = …``, ``x: int = …``, ``x += …``, ``(x := …)``, ``as x``)."""

        def visit(node: cst.CSTNode, store: bool) -> None:
            for name in _FIELDS[type(node)]:
                value = getattr(node, name)
                if isinstance(value, cst.CSTNode):
                    self._visit(value, node, name == field)

        return visit

    def _name(self, node: cst.Name, store: bool) -> None:
        if store:
            self.scope.record_assignment(node.value, node)
        else:
            access = Access(node, self.scope, is_annotation=False, is_type_hint=False)
            self._deferred.append((access, self._top_attribute[-1]))

    def _attribute(self, node: cst.Attribute, store: bool) -> None:
        top = self._top_attribute
        if top[-1] is None:
            top[-1] = node
        self._visit(node.value, node, False)  # the attribute's name is not a variable
        if top[-1] is node:
            top[-1] = None

    def _call(self, node: cst.Call, store: bool) -> None:
        self.events.append(node)
        self._top_attribute.append(None)
        self._visit(node.func, node, False)
        for arg in node.args:
            self._visit(arg, node, False)
        self._top_attribute.pop()

    def _arg(self, node: cst.Arg, store: bool) -> None:
        self._visit(node.value, node, False)  # a keyword is not a variable

    def _comparison(self, node: cst.Comparison, store: bool) -> None:
        if isinstance(node.left, cst.Name) and any(
            isinstance(t.operator, cst.In | cst.NotIn) for t in node.comparisons
        ):
            self._guard(node.left.value)
        self._children(node, False)

    def _guard(self, name: str) -> None:
        """``name`` is compared with ``in`` in the lambdas around the node up to the function around it, and in
        that function, or in the module when no function is around it."""
        for around in reversed(self._functions):
            self.guards.setdefault(around, set()).add(name)
            if isinstance(around, cst.FunctionDef):
                return
        self.guards.setdefault(self.module, set()).add(name)

    def _import(self, node: cst.Import | cst.ImportFrom, store: bool) -> None:
        self.events.append(node)
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            self.scopes[alias] = self.scope
            self.parents[alias] = node
            written = alias.name if alias.asname is None else alias.asname.name
            for name, _ in dotted_names(written):
                self.scope.record_import_assignment(name, node, written)

    def _named(self, node: cst.FunctionDef | cst.ClassDef) -> None:
        self.scope.record_assignment(node.name.value, node)
        self.scopes[node.name] = self.scope
        self.parents[node.name] = node

    def _enter(self, scope: Scope) -> Scope:
        outer, self.scope = self.scope, scope
        return outer

    def _function(self, node: cst.FunctionDef, store: bool) -> None:
        self._named(node)
        self._functions.append(node)
        outer = self._enter(FunctionScope(self.scope, node, node.name.value))
        params = self._apart(lambda: self._visit(node.params, node, False))
        body = self._apart(lambda: self._visit(node.body, node, False))
        self.scope = outer
        decorators = self._apart(lambda: self._children(node, False, ("decorators",)))
        returns = self._apart(lambda: self._children(node, False, ("returns",)))
        self._functions.pop()
        self.events += decorators + params + returns + body

    def _lambda(self, node: cst.Lambda, store: bool) -> None:
        self._functions.append(node)
        outer = self._enter(FunctionScope(self.scope, node))
        self._visit(node.params, node, False)
        self._visit(node.body, node, False)
        self.scope = outer
        self._functions.pop()

    def _param(self, node: cst.Param, store: bool) -> None:
        self.scope.record_assignment(node.name.value, node)
        self.scopes[node.name] = self.scope
        self.parents[node.name] = node
        inner = self._enter(self.scope.parent)  # a default and an annotation are evaluated outside the function
        default = self._apart(lambda: self._children(node, False, ("default",)))
        annotation = self._apart(lambda: self._children(node, False, ("annotation",)))
        self.scope = inner
        self.events += annotation + default

    def _class(self, node: cst.ClassDef, store: bool) -> None:
        self._named(node)
        self._children(node, False, ("decorators", "bases", "keywords"))
        outer = self._enter(ClassScope(self.scope, node, node.name.value))
        self.parents[node.body] = node
        for statement in node.body.body:
            self._visit(statement, node.body, False)
        self.scope = outer

    def _global(self, node: cst.Global | cst.Nonlocal, store: bool) -> None:
        for item in node.names:
            if isinstance(node, cst.Global):
                self.scope.record_global_overwrite(item.name.value)
            else:
                self.scope.record_nonlocal_overwrite(item.name.value)

    def _for(self, node: cst.For, store: bool) -> None:
        self._visit(node.target, node, True)
        self.scope._assignment_count += 1
        self._children(node, False, ("iter", "body", "orelse"))

    def _comp_for(self, node: cst.CompFor, store: bool) -> None:
        self._visit(node.target, node, True)
        self._children(node, False, ("iter", "ifs", "inner_for_in"))

    def _comprehension(self, node: cst.ListComp | cst.SetComp | cst.DictComp | cst.GeneratorExp, store: bool) -> None:
        for_in = node.for_in
        self.parents[for_in] = node
        iterable = self._apart(lambda: self._visit(for_in.iter, for_in, False))  # outside the comprehension
        self.scopes[for_in] = self.scope
        outer = self._enter(ComprehensionScope(self.scope, node))
        target = self._apart(lambda: self._visit(for_in.target, for_in, True))
        self.scope._assignment_count += 1
        rest = self._apart(lambda: self._children(for_in, False, ("ifs", "inner_for_in")))
        fields = ("key", "value") if isinstance(node, cst.DictComp) else ("elt",)
        element = self._apart(lambda: self._children(node, False, fields))
        self.scope = outer
        self.events += element + target + iterable + rest

    def _infer_accesses(self) -> None:
        """Each access, named by the longest dotted prefix its scope assigns, linked to the assignments it sees
        (libcst's ``ScopeVisitor.infer_accesses``, less the links back from assignments to their accesses)."""
        for access, attribute in self._deferred:
            node = access.node
            assert isinstance(node, cst.Name)
            name = node.value
            if attribute is not None:
                for dotted, part in dotted_names(attribute):
                    if dotted in access.scope:
                        access.node = part  # type: ignore[assignment]
                        name = dotted
                        break
            access.record_assignments(name)
            access.scope.record_access(name, access)
        self._deferred = []
